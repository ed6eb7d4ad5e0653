// ImageConfig: the image configuration blob (image-spec config.md) with the Docker extensions
// BuildKit writes (Healthcheck, OnBuild, Shell) and the old Docker resource fields. Members of
// Docker's container config that the spec lacks (Hostname, Image, ...) and top-level ones
// (container, container_config, docker_version) are kept as unknown fields.
//
// Absent and empty differ where the wire does: Entrypoint/Cmd/Shell/Healthcheck.Test are
// optional lists (null or absent → nullopt, `[]` → engaged and empty, written back as `[]`).
// Timestamps are kept as the RFC 3339 text they arrived as.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/digest.h"

namespace hoist::oci {

// Docker's HEALTHCHECK; durations in nanoseconds, as Go's time.Duration marshals.
struct HealthConfig {
  std::optional<std::vector<std::string>> test;  // ["NONE"], ["CMD", ...], ["CMD-SHELL", cmd]
  int64_t interval = 0;
  int64_t timeout = 0;
  int64_t start_period = 0;
  int64_t start_interval = 0;
  int64_t retries = 0;
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const HealthConfig&, const HealthConfig&) = default;
};

// The "config" member: defaults for containers run from the image.
struct ContainerConfig {
  std::string user;
  int64_t memory = 0;       // Docker image spec v1 only
  int64_t memory_swap = 0;  // Docker image spec v1 only
  int64_t cpu_shares = 0;   // Docker image spec v1 only
  std::set<std::string> exposed_ports;  // "80/tcp"
  std::vector<std::string> env;         // KEY=VALUE
  std::optional<std::vector<std::string>> entrypoint;
  std::optional<std::vector<std::string>> cmd;
  std::set<std::string> volumes;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  std::string stop_signal;
  bool args_escaped = false;
  std::optional<HealthConfig> healthcheck;
  std::vector<std::string> on_build;
  std::optional<std::vector<std::string>> shell;
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const ContainerConfig&, const ContainerConfig&) = default;
};

struct RootFs {
  std::string type = "layers";
  std::vector<Digest> diff_ids;
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const RootFs&, const RootFs&) = default;
};

struct History {
  std::string created;  // RFC 3339; empty: absent
  std::string created_by;
  std::string author;
  std::string comment;
  bool empty_layer = false;
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const History&, const History&) = default;
};

struct ImageConfig {
  std::string created;  // RFC 3339; empty: absent
  std::string author;
  std::string architecture;
  std::string os;
  std::string os_version;
  std::vector<std::string> os_features;
  std::string variant;
  ContainerConfig config;
  RootFs rootfs;
  std::vector<History> history;
  std::map<std::string, std::string> unknown_fields;

  friend bool operator==(const ImageConfig&, const ImageConfig&) = default;
};

// The chain IDs of a layer stack (image-spec config.md, "Layer ChainID"): chain[0] = diff_ids[0],
// chain[i] = sha256(chain[i-1] + " " + diff_ids[i]). Empty for no layers.
std::vector<Digest> ChainIDs(const std::vector<Digest>& diff_ids);

// Errors (kInvalidArgument) name the field: `config: field "config.Env[1]": ...`. Required:
// architecture, os, rootfs{type "layers", diff_ids}; Env entries must be KEY=VALUE; created
// stamps must be RFC 3339. null is accepted for the list and map members Docker writes as null.
Result<ImageConfig> ParseImageConfig(std::string_view json);
// Compact JSON in the order of Go's ocispec.Image / BuildKit's DockerOCIImageConfig; "config"
// and "rootfs" are always written, as Go does.
std::string SerializeImageConfig(const ImageConfig& c);

}  // namespace hoist::oci
