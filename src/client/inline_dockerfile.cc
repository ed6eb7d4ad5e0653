#include "client/inline_dockerfile.h"

#include <string>

#include "base/pattern_matcher.h"
#include "llb/llb.h"

namespace hoist::client {
namespace {

constexpr size_t kMaxInline = 1 << 20;

// The file `path` of the local `dir`, whole; nullopt when missing; an error when it cannot be
// read here or is too large to send inline.
Result<std::optional<std::string>> ReadSmall(session::ClientSession& s, const std::string& dir,
                                             const std::string& path) {
  HOIST_ASSIGN_OR_RETURN(auto d, s.LocalDir(dir));
  auto data = session::ReadWholeFile(*d, path, kMaxInline);
  if (!data && data.error().code() == Code::kNotFound) return std::optional<std::string>();
  if (!data) return Unexpected(std::move(data).error());
  return std::optional<std::string>(std::move(*data));
}

std::string Attr(const control::Attrs& attrs, const std::string& key, const std::string& def) {
  auto it = attrs.find(key);
  return it == attrs.end() || it->second.empty() ? def : it->second;
}

}  // namespace

std::optional<llb::Definition> InlineDockerfile(const control::SolveRequest& request,
                                                session::ClientSession& session) {
  const control::Attrs& attrs = request.frontend_attrs;
  if ((!request.frontend.empty() && request.frontend != "dockerfile.v0") ||
      !request.frontend_inputs.empty() || attrs.contains("context")) {
    return std::nullopt;
  }
  const std::string filename = CleanPath("/" + Attr(attrs, "filename", "Dockerfile")).substr(1);
  if (filename.empty()) return std::nullopt;
  const std::string dockerfile_dir = Attr(attrs, "dockerfilekey", "dockerfile");
  auto dockerfile = ReadSmall(session, dockerfile_dir, filename);
  if (!dockerfile || !*dockerfile) return std::nullopt;
  auto ignore = ReadSmall(session, dockerfile_dir, filename + ".dockerignore");
  if (!ignore) return std::nullopt;
  if (!*ignore) {
    ignore = ReadSmall(session, Attr(attrs, "contextkey", "context"), ".dockerignore");
    if (!ignore) return std::nullopt;
  }
  std::string text = std::move(**dockerfile);
  const size_t slash = filename.rfind('/');
  llb::FileAction files =
      slash == std::string::npos
          ? llb::Mkfile("/" + filename, 0644, std::move(text))
          : llb::Mkdir("/" + filename.substr(0, slash), 0755, {.make_parents = true})
                .Mkfile("/" + filename, 0644, std::move(text));
  files = files.Mkfile("/" + filename + ".dockerignore", 0644, ignore->value_or(std::string()));
  auto def = llb::Marshal(llb::Scratch().File(
      files, {.description = {{std::string(llb::kInlineFromLocal), dockerfile_dir}}}));
  if (!def) return std::nullopt;
  return std::move(*def);
}

}  // namespace hoist::client
