#include "llb/state.h"

#include <algorithm>

#include "llb/caps.h"
#include "llb/internal/op_proto.h"
#include "llb/internal/path.h"
#include "llb/internal/vertex.h"

namespace hoist::llb {

State::State() : values_(std::make_shared<internal::StateValues>()) {}

State::State(Output output) : State() {
  output_ = std::move(output);
  if (output_.platform) {
    auto v = std::make_shared<internal::StateValues>();
    v->platform = oci::Normalize(*output_.platform);
    values_ = std::move(v);
  }
}

template <typename F>
State State::With(F&& mutate) const {
  auto v = std::make_shared<internal::StateValues>(*values_);
  mutate(*v);
  State s = *this;
  s.values_ = std::move(v);
  return s;
}

State State::AddEnv(std::string_view key, std::string_view value) const {
  return With([&](internal::StateValues& v) {
    std::erase_if(v.env, [&](const auto& kv) { return kv.first == key; });
    v.env.emplace_back(std::string(key), std::string(value));
  });
}

State State::DelEnv(std::string_view key) const {
  return With([&](internal::StateValues& v) {
    std::erase_if(v.env, [&](const auto& kv) { return kv.first == key; });
  });
}

State State::Dir(std::string_view dir) const {
  return With([&](internal::StateValues& v) {
    if (!dir.empty() && dir.front() == '/') {
      v.dir = std::string(dir);
    } else {
      v.dir = internal::JoinPath(v.dir.empty() ? "/" : v.dir, dir);
    }
  });
}

State State::Args(std::vector<std::string> args) const {
  return With([&](internal::StateValues& v) { v.args = std::move(args); });
}
State State::User(std::string_view user) const {
  return With([&](internal::StateValues& v) { v.user = std::string(user); });
}
State State::Hostname(std::string_view hostname) const {
  return With([&](internal::StateValues& v) { v.hostname = std::string(hostname); });
}
State State::Platform(const oci::Platform& platform) const {
  return With([&](internal::StateValues& v) { v.platform = oci::Normalize(platform); });
}
State State::Network(NetMode mode) const {
  return With([&](internal::StateValues& v) { v.network = mode; });
}
State State::Security(SecurityMode mode) const {
  return With([&](internal::StateValues& v) { v.security = mode; });
}
State State::AddExtraHost(std::string_view host, std::string_view ip) const {
  return With([&](internal::StateValues& v) {
    v.extra_hosts.push_back({std::string(host), std::string(ip)});
  });
}
State State::AddUlimit(std::string_view name, int64_t soft, int64_t hard) const {
  return With([&](internal::StateValues& v) {
    v.ulimits.push_back({std::string(name), soft, hard});
  });
}
State State::CgroupParent(std::string_view parent) const {
  return With([&](internal::StateValues& v) { v.cgroup_parent = std::string(parent); });
}
State State::ValidExitCodes(std::vector<int32_t> codes) const {
  return With([&](internal::StateValues& v) { v.valid_exit_codes = std::move(codes); });
}

State State::WithOutput(Output output) const {
  State s = *this;
  s.output_ = std::move(output);
  if (s.output_.platform) return s.Platform(*s.output_.platform);
  return s;
}

std::optional<std::string> State::GetEnv(std::string_view key) const {
  for (const auto& [k, v] : values_->env) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::vector<std::string> State::EnvList() const {
  std::vector<std::string> out;
  out.reserve(values_->env.size());
  for (const auto& [k, v] : values_->env) out.push_back(k + "=" + v);
  return out;
}

namespace {

class MergeVertex : public internal::Vertex {
 public:
  MergeVertex(std::vector<Output> inputs, OpOptions options)
      : inputs_(std::move(inputs)), options_(std::move(options)) {}

  std::vector<Output> Inputs() const override { return inputs_; }

  Result<internal::MarshalledOp> MarshalOp(internal::MarshalContext& ctx) const override {
    internal::Constraints c = ctx.Merge(options_, {kCapMergeOp}, std::nullopt);
    pb::Op op;
    internal::SetConstraints(c, /*platform_specific=*/false, &op);
    auto* merge = op.mutable_merge();
    for (const Output& in : inputs_) {
      HOIST_ASSIGN_OR_RETURN(internal::InputRef ref, ctx.ToInput(in));
      merge->add_inputs()->set_input(op.inputs_size());
      internal::SetInput(ref, op.add_inputs());
    }
    return internal::Finish(op, std::move(c.metadata));
  }

 private:
  std::vector<Output> inputs_;
  OpOptions options_;
};

class DiffVertex : public internal::Vertex {
 public:
  DiffVertex(Output lower, Output upper, OpOptions options)
      : lower_(std::move(lower)), upper_(std::move(upper)), options_(std::move(options)) {}

  std::vector<Output> Inputs() const override {
    std::vector<Output> out;
    if (lower_.vertex) out.push_back(lower_);
    if (upper_.vertex) out.push_back(upper_);
    return out;
  }

  Result<internal::MarshalledOp> MarshalOp(internal::MarshalContext& ctx) const override {
    internal::Constraints c = ctx.Merge(options_, {kCapDiffOp}, std::nullopt);
    pb::Op op;
    internal::SetConstraints(c, /*platform_specific=*/false, &op);
    auto* diff = op.mutable_diff();
    diff->mutable_lower()->set_input(-1);
    if (lower_.vertex) {
      HOIST_ASSIGN_OR_RETURN(internal::InputRef ref, ctx.ToInput(lower_));
      diff->mutable_lower()->set_input(op.inputs_size());
      internal::SetInput(ref, op.add_inputs());
    }
    diff->mutable_upper()->set_input(-1);
    if (upper_.vertex) {
      HOIST_ASSIGN_OR_RETURN(internal::InputRef ref, ctx.ToInput(upper_));
      diff->mutable_upper()->set_input(op.inputs_size());
      internal::SetInput(ref, op.add_inputs());
    }
    return internal::Finish(op, std::move(c.metadata));
  }

 private:
  Output lower_;
  Output upper_;
  OpOptions options_;
};

}  // namespace

State Merge(const std::vector<State>& inputs, const OpOptions& options) {
  std::vector<const State*> kept;
  for (const State& s : inputs) {
    if (!s.IsScratch()) kept.push_back(&s);
  }
  if (kept.empty()) return Scratch();
  if (kept.size() == 1) return *kept.front();
  std::vector<Output> outs;
  for (const State* s : kept) outs.push_back(s->output());
  auto v = std::make_shared<MergeVertex>(std::move(outs), options);
  return kept.front()->WithOutput(Output{std::move(v), 0, std::nullopt, ""});
}

State Diff(const State& lower, const State& upper, const OpOptions& options) {
  if (lower.IsScratch()) return upper;
  auto v = std::make_shared<DiffVertex>(lower.output(), upper.output(), options);
  return lower.WithOutput(Output{std::move(v), 0, std::nullopt, ""});
}

}  // namespace hoist::llb
