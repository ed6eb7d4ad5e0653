// State: an immutable LLB value in the spirit of BuildKit's client/llb State. A State is a
// reference to one output of an op (or scratch) plus the metadata that later ops inherit:
// environment, working directory, user, hostname, platform, network and security mode...
// (BuildKit's "value keys" llb.exec.env, llb.exec.dir, llb.platform, ...).
//
// States compose: every method returns a new State and leaves the receiver alone, and ops
// share their inputs, so a graph is a DAG of reference-counted, immutable vertices. Nothing
// is marshalled until Marshal() (marshal.h) walks the graph.
//
//   llb::State base = llb::Image("alpine:3.20");
//   llb::State built = base.Dir("/src").AddEnv("CGO", "0")
//                          .Run({.args = {"make"}, .mounts = {llb::BindMount("/src", ctx)}})
//                          .Root();
//   llb::State out = llb::Scratch().File(llb::Copy(built, "/src/app", "/app"));
//
// No protobuf type appears in this API; the generated code stays inside src/llb/*.cc.
// Thread-safety: States are values over immutable shared data; copy and use them from any
// thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llb/definition.h"
#include "oci/platform.h"

namespace hoist::llb {

// pb.NetMode and pb.SecurityMode values.
enum class NetMode { kSandbox = 0, kHost = 1, kNone = 2 };
enum class SecurityMode { kSandbox = 0, kInsecure = 1 };

struct HostIP {
  std::string host;
  std::string ip;
};

struct Ulimit {
  std::string name;  // "nofile", "nproc", ...
  int64_t soft = 0;
  int64_t hard = 0;
};

// Per-op constraints and metadata (BuildKit's ConstraintsOpt): where the op runs and what
// the solver and progress output should know about it. Not part of State values; given to
// the call that creates an op.
struct OpOptions {
  // Overrides the platform the op runs on (default: the State's, then Marshal's).
  std::optional<oci::Platform> platform;
  std::vector<std::string> worker_constraints;
  // Shown in progress output; stored as description["llb.customname"].
  std::string custom_name;
  std::map<std::string, std::string> description;
  bool ignore_cache = false;
  std::optional<bool> export_cache;
  std::optional<ProgressGroup> progress_group;
};

class ExecState;
class FileAction;
struct RunOptions;

namespace internal {
class Vertex;

// The values a State carries for later ops.
struct StateValues {
  // In order of their last assignment (BuildKit's EnvList.ToArray order).
  std::vector<std::pair<std::string, std::string>> env;
  std::string dir = "/";
  std::vector<std::string> args;
  std::string user;
  std::string hostname;
  std::optional<oci::Platform> platform;
  NetMode network = NetMode::kSandbox;
  SecurityMode security = SecurityMode::kSandbox;
  std::vector<HostIP> extra_hosts;
  std::vector<Ulimit> ulimits;
  std::string cgroup_parent;
  std::optional<std::vector<int32_t>> valid_exit_codes;
};
}  // namespace internal

// One output of a vertex; a null vertex is scratch (the empty filesystem).
struct Output {
  std::shared_ptr<const internal::Vertex> vertex;
  int64_t index = 0;
  // The platform the producing op was explicitly given, which the State then adopts.
  std::optional<oci::Platform> platform;
  // Non-empty when this output cannot feed another op (a tmpfs mount's, say); marshalling
  // a graph that uses it fails with this message.
  std::string error;
};

class State {
 public:
  // Scratch, working directory "/".
  State();
  // The state of `output`, working directory "/", with the output's platform if it has one.
  explicit State(Output output);

  bool IsScratch() const { return output_.vertex == nullptr; }
  const Output& output() const { return output_; }

  // Metadata. Each returns a new State.
  State AddEnv(std::string_view key, std::string_view value) const;
  State DelEnv(std::string_view key) const;
  // A relative dir is joined to the current one.
  State Dir(std::string_view dir) const;
  State Args(std::vector<std::string> args) const;
  State User(std::string_view user) const;
  State Hostname(std::string_view hostname) const;
  // Normalised as containerd does.
  State Platform(const oci::Platform& platform) const;
  State Network(NetMode mode) const;
  State Security(SecurityMode mode) const;
  State AddExtraHost(std::string_view host, std::string_view ip) const;
  State AddUlimit(std::string_view name, int64_t soft, int64_t hard) const;
  State CgroupParent(std::string_view parent) const;
  State ValidExitCodes(std::vector<int32_t> codes) const;
  // This state's metadata on another output (BuildKit's WithOutput); the output's explicit
  // platform, if any, replaces the state's.
  State WithOutput(Output output) const;

  std::optional<std::string> GetEnv(std::string_view key) const;
  // KEY=value entries, in order.
  std::vector<std::string> EnvList() const;
  const std::string& GetDir() const { return values_->dir; }
  const std::vector<std::string>& GetArgs() const { return values_->args; }
  const std::string& GetUser() const { return values_->user; }
  const std::string& GetHostname() const { return values_->hostname; }
  const std::optional<oci::Platform>& GetPlatform() const { return values_->platform; }
  NetMode GetNetwork() const { return values_->network; }
  SecurityMode GetSecurity() const { return values_->security; }
  const internal::StateValues& values() const { return *values_; }

  // Ops (declared in exec.h and file_action.h; include llb/llb.h to use them).
  // Runs a process on this state's filesystem; see RunOptions.
  ExecState Run(const RunOptions& options) const;
  // Applies a chain of file actions to this state.
  State File(const FileAction& action, const OpOptions& options = {}) const;

 private:
  template <typename F>
  State With(F&& mutate) const;

  Output output_;
  std::shared_ptr<const internal::StateValues> values_;
};

// The empty filesystem.
inline State Scratch() { return State(); }

// Layers `inputs` on top of each other, first at the bottom (pb.MergeOp); scratch inputs are
// dropped, and a single remaining input is returned as is.
State Merge(const std::vector<State>& inputs, const OpOptions& options = {});
// The changes that turn `lower` into `upper` (pb.DiffOp).
State Diff(const State& lower, const State& upper, const OpOptions& options = {});

}  // namespace hoist::llb
