#include "oci/image_config.h"

#include <fmt/format.h>

#include "oci/internal/json_codec.h"

namespace hoist::oci {
namespace {

using internal::Json;
using internal::JsonWriter;
using internal::ObjectReader;

constexpr std::string_view kDoc = "config";

Status ReadTimestamp(ObjectReader& r, std::string_view key, std::string* out) {
  HOIST_TRY(r.String(key, out));
  if (r.Has(key) && !internal::IsRfc3339(*out)) {
    std::string quoted;
    internal::AppendGoQuoted(&quoted, *out);
    return Unexpected(r.Fail(key, fmt::format("{} is not an RFC 3339 date-time", quoted)));
  }
  return OkStatus();
}

Result<HealthConfig> ReadHealthConfig(std::string path, const Json& v) {
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, path, "object", v));
  ObjectReader r(kDoc, path, v);
  HealthConfig h;
  HOIST_TRY(r.OptionalStringList("Test", &h.test));
  HOIST_TRY(r.Int64("Interval", &h.interval));
  HOIST_TRY(r.Int64("Timeout", &h.timeout));
  HOIST_TRY(r.Int64("StartPeriod", &h.start_period));
  HOIST_TRY(r.Int64("StartInterval", &h.start_interval));
  HOIST_TRY(r.Int64("Retries", &h.retries));
  h.unknown_fields = r.Unknown();
  return h;
}

Result<ContainerConfig> ReadContainerConfig(std::string path, const Json& v) {
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, path, "object", v));
  ObjectReader r(kDoc, path, v);
  ContainerConfig c;
  HOIST_TRY(r.String("User", &c.user));
  HOIST_TRY(r.Int64("Memory", &c.memory));
  HOIST_TRY(r.Int64("MemorySwap", &c.memory_swap, /*required=*/false, /*non_negative=*/false));
  HOIST_TRY(r.Int64("CpuShares", &c.cpu_shares));
  HOIST_TRY(r.StringSet("ExposedPorts", &c.exposed_ports));
  HOIST_TRY(r.StringList("Env", &c.env, /*null_is_absent=*/true));
  for (size_t i = 0; i < c.env.size(); ++i) {
    size_t eq = c.env[i].find('=');
    if (eq == std::string::npos || eq == 0) {
      std::string quoted;
      internal::AppendGoQuoted(&quoted, c.env[i]);
      return Unexpected(internal::FieldError(kDoc, internal::ElementPath(r.Path("Env"), i),
                                             fmt::format("{} is not KEY=VALUE", quoted)));
    }
  }
  HOIST_TRY(r.OptionalStringList("Entrypoint", &c.entrypoint));
  HOIST_TRY(r.OptionalStringList("Cmd", &c.cmd));
  HOIST_TRY(r.StringSet("Volumes", &c.volumes));
  HOIST_TRY(r.String("WorkingDir", &c.working_dir));
  HOIST_TRY(r.StringMap("Labels", &c.labels, /*null_is_absent=*/true));
  HOIST_TRY(r.String("StopSignal", &c.stop_signal));
  HOIST_TRY(r.Bool("ArgsEscaped", &c.args_escaped));
  if (const Json* health = r.Find("Healthcheck"); health != nullptr && !health->is_null()) {
    HOIST_ASSIGN_OR_RETURN(c.healthcheck, ReadHealthConfig(r.Path("Healthcheck"), *health));
  }
  HOIST_TRY(r.StringList("OnBuild", &c.on_build, /*null_is_absent=*/true));
  HOIST_TRY(r.OptionalStringList("Shell", &c.shell));
  c.unknown_fields = r.Unknown();
  return c;
}

Result<RootFs> ReadRootFs(std::string path, const Json& v) {
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, path, "object", v));
  ObjectReader r(kDoc, path, v);
  RootFs fs;
  HOIST_TRY(r.String("type", &fs.type, /*required=*/true));
  if (fs.type != "layers") {
    std::string quoted;
    internal::AppendGoQuoted(&quoted, fs.type);
    return Unexpected(r.Fail("type", fmt::format("must be \"layers\", got {}", quoted)));
  }
  // Required by the schema; null is tolerated because Go writes a nil slice that way.
  if (!r.Has("diff_ids")) return Unexpected(r.Fail("diff_ids", "required field is missing"));
  HOIST_ASSIGN_OR_RETURN(const Json* ids, r.Array("diff_ids", false, /*null_is_absent=*/true));
  if (ids != nullptr) {
    for (size_t i = 0; i < ids->size(); ++i) {
      HOIST_ASSIGN_OR_RETURN(
          Digest d, internal::ReadDigest(kDoc, internal::ElementPath(r.Path("diff_ids"), i), (*ids)[i]));
      fs.diff_ids.push_back(std::move(d));
    }
  }
  fs.unknown_fields = r.Unknown();
  return fs;
}

Result<History> ReadHistory(std::string path, const Json& v) {
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, path, "object", v));
  ObjectReader r(kDoc, path, v);
  History h;
  HOIST_TRY(ReadTimestamp(r, "created", &h.created));
  HOIST_TRY(r.String("created_by", &h.created_by));
  HOIST_TRY(r.String("author", &h.author));
  HOIST_TRY(r.String("comment", &h.comment));
  HOIST_TRY(r.Bool("empty_layer", &h.empty_layer));
  h.unknown_fields = r.Unknown();
  return h;
}

void WriteHealthConfig(JsonWriter& w, const HealthConfig& h) {
  w.BeginObject();
  w.OptionalStringListField("Test", h.test);
  w.IntField("Interval", h.interval);
  w.IntField("Timeout", h.timeout);
  w.IntField("StartPeriod", h.start_period);
  w.IntField("StartInterval", h.start_interval);
  w.IntField("Retries", h.retries);
  w.UnknownFields(h.unknown_fields,
                  {"Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"});
  w.EndObject();
}

void WriteContainerConfig(JsonWriter& w, const ContainerConfig& c) {
  w.BeginObject();
  w.StringField("User", c.user);
  w.IntField("Memory", c.memory);
  w.IntField("MemorySwap", c.memory_swap);
  w.IntField("CpuShares", c.cpu_shares);
  w.StringSetField("ExposedPorts", c.exposed_ports);
  w.StringListField("Env", c.env);
  w.OptionalStringListField("Entrypoint", c.entrypoint);
  w.OptionalStringListField("Cmd", c.cmd);
  w.StringSetField("Volumes", c.volumes);
  w.StringField("WorkingDir", c.working_dir);
  w.StringMapField("Labels", c.labels);
  w.StringField("StopSignal", c.stop_signal);
  w.BoolField("ArgsEscaped", c.args_escaped);
  if (c.healthcheck) {
    w.Key("Healthcheck");
    WriteHealthConfig(w, *c.healthcheck);
  }
  w.StringListField("OnBuild", c.on_build);
  w.OptionalStringListField("Shell", c.shell);
  w.UnknownFields(c.unknown_fields,
                  {"User", "Memory", "MemorySwap", "CpuShares", "ExposedPorts", "Env", "Entrypoint",
                   "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal", "ArgsEscaped",
                   "Healthcheck", "OnBuild", "Shell"});
  w.EndObject();
}

}  // namespace

Result<ImageConfig> ParseImageConfig(std::string_view json) {
  HOIST_ASSIGN_OR_RETURN(Json v, internal::ParseJson(kDoc, json));
  if (!v.is_object()) return Unexpected(internal::TypeError(kDoc, "", "object", v));
  ObjectReader r(kDoc, "", v);
  ImageConfig c;
  HOIST_TRY(ReadTimestamp(r, "created", &c.created));
  HOIST_TRY(r.String("author", &c.author));
  HOIST_TRY(r.String("architecture", &c.architecture, /*required=*/true));
  HOIST_TRY(r.String("os", &c.os, /*required=*/true));
  HOIST_TRY(r.String("os.version", &c.os_version));
  HOIST_TRY(r.StringList("os.features", &c.os_features, /*null_is_absent=*/true));
  HOIST_TRY(r.String("variant", &c.variant));
  if (const Json* config = r.Find("config"); config != nullptr && !config->is_null()) {
    HOIST_ASSIGN_OR_RETURN(c.config, ReadContainerConfig(r.Path("config"), *config));
  }
  const Json* rootfs = r.Find("rootfs");
  if (rootfs == nullptr) return Unexpected(r.Fail("rootfs", "required field is missing"));
  HOIST_ASSIGN_OR_RETURN(c.rootfs, ReadRootFs(r.Path("rootfs"), *rootfs));
  HOIST_ASSIGN_OR_RETURN(const Json* history, r.Array("history", false, /*null_is_absent=*/true));
  if (history != nullptr) {
    for (size_t i = 0; i < history->size(); ++i) {
      HOIST_ASSIGN_OR_RETURN(History h,
                             ReadHistory(internal::ElementPath(r.Path("history"), i), (*history)[i]));
      c.history.push_back(std::move(h));
    }
  }
  c.unknown_fields = r.Unknown();
  return c;
}

std::string SerializeImageConfig(const ImageConfig& c) {
  JsonWriter w;
  w.BeginObject();
  w.StringField("created", c.created);
  w.StringField("author", c.author);
  w.StringField("architecture", c.architecture, /*omit_empty=*/false);
  w.StringField("os", c.os, /*omit_empty=*/false);
  w.StringField("os.version", c.os_version);
  w.StringListField("os.features", c.os_features);
  w.StringField("variant", c.variant);
  w.Key("config");
  WriteContainerConfig(w, c.config);
  w.Key("rootfs");
  w.BeginObject();
  w.StringField("type", c.rootfs.type, /*omit_empty=*/false);
  w.Key("diff_ids");
  w.BeginArray();
  for (const Digest& d : c.rootfs.diff_ids) w.String(d.str());
  w.EndArray();
  w.UnknownFields(c.rootfs.unknown_fields, {"type", "diff_ids"});
  w.EndObject();
  if (!c.history.empty()) {
    w.Key("history");
    w.BeginArray();
    for (const History& h : c.history) {
      w.BeginObject();
      w.StringField("created", h.created);
      w.StringField("created_by", h.created_by);
      w.StringField("author", h.author);
      w.StringField("comment", h.comment);
      w.BoolField("empty_layer", h.empty_layer);
      w.UnknownFields(h.unknown_fields, {"created", "created_by", "author", "comment", "empty_layer"});
      w.EndObject();
    }
    w.EndArray();
  }
  w.UnknownFields(c.unknown_fields, {"created", "author", "architecture", "os", "os.version",
                                     "os.features", "variant", "config", "rootfs", "history"});
  w.EndObject();
  return w.Take();
}

std::vector<Digest> ChainIDs(const std::vector<Digest>& diff_ids) {
  std::vector<Digest> out;
  out.reserve(diff_ids.size());
  for (const Digest& d : diff_ids) {
    out.push_back(out.empty() ? d : Digest::Sha256Of(out.back().str() + " " + d.str()));
  }
  return out;
}

}  // namespace hoist::oci
