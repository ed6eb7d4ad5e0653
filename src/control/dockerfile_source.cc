#include "control/dockerfile_source.h"

#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "archive/confined_root.h"
#include "base/pattern_matcher.h"

namespace hoist::control {
namespace {

Error DockerfileNotRead(const std::string& filename, const Error& e) {
  return Error(e.code(), fmt::format("failed to read dockerfile: open {}: {}", filename,
                                     e.code() == Code::kNotFound ? "no such file or directory"
                                                                 : e.message()));
}

// From the `dockerfile` frontend input, whose files `read` gives (nullopt: no such file); the
// context's ignore file is read through the session only when the input has none for the
// Dockerfile and the context is the client's.
Result<DockerfileFiles> ReadInputFiles(
    const std::function<Result<std::optional<std::string>>(const std::string& path)>& read,
    session::Session& s, const FrontendSettings& f, bool local_context) {
  DockerfileFiles in;
  auto dockerfile = read(f.filename);
  if (!dockerfile) return Unexpected(DockerfileNotRead(f.filename, dockerfile.error()));
  if (!*dockerfile) {
    return Unexpected(DockerfileNotRead(f.filename, Error(Code::kNotFound, "")));
  }
  in.dockerfile = std::move(**dockerfile);
  HOIST_ASSIGN_OR_RETURN(std::optional<std::string> own, read(f.filename + ".dockerignore"));
  if (own) {
    in.dockerignore = std::move(*own);
  } else if (local_context) {
    HOIST_ASSIGN_OR_RETURN(in.dockerignore,
                           ReadClientFile(s, f.context_local, ".dockerignore", true));
  }
  return in;
}

}  // namespace

Result<std::string> ReadClientFile(session::Session& s, std::string_view dir,
                                   std::string_view path, bool optional) {
  HOIST_ASSIGN_OR_RETURN(auto d, s.LocalDir(dir));
  return ReadClientFile(*d, path, optional);
}

Result<std::string> ReadClientFile(session::ClientDir& d, std::string_view path, bool optional) {
  auto data = session::ReadWholeFile(d, path, kMaxDockerfileBytes);
  if (!data && optional && data.error().code() == Code::kNotFound) return std::string();
  return data;
}

Result<DockerfileFiles> ReadSessionDockerfile(session::Session& s, const FrontendSettings& f) {
  DockerfileFiles in;
  // The context's ignore file, wanted unless the Dockerfile has one of its own (rare), is read
  // meanwhile: through hoistd each read is a transfer of a few round trips to the client.
  Result<std::string> context_ignore = std::string();
  std::jthread context_ignore_reader([&] {
    context_ignore = ReadClientFile(s, f.context_local, ".dockerignore", true);
  });
  // One walk for the Dockerfile and its ignore file; then they are read on its transfer.
  std::set<std::string> seen;
  HOIST_ASSIGN_OR_RETURN(auto dir, s.LocalDir(f.dockerfile_local));
  HOIST_TRY(dir->Walk({.follow_paths = {f.filename, f.filename + ".dockerignore"}},
                      [&](const session::FileEntry& e) -> Status {
                        seen.insert(e.path);
                        return OkStatus();
                      }));
  auto dockerfile = ReadClientFile(*dir, f.filename, false);
  if (!dockerfile) return Unexpected(DockerfileNotRead(f.filename, dockerfile.error()));
  in.dockerfile = std::move(*dockerfile);
  // The Dockerfile's own ignore file, read only when the walk that brought the Dockerfile saw
  // it (over a remote session, that saves a transfer).
  std::string ignore_path = CleanPath(f.filename + ".dockerignore");
  ignore_path.erase(0, ignore_path.find_first_not_of('/'));
  if (seen.contains(ignore_path)) {
    HOIST_ASSIGN_OR_RETURN(in.dockerignore,
                           ReadClientFile(*dir, f.filename + ".dockerignore", true));
    return in;
  }
  context_ignore_reader.join();
  HOIST_ASSIGN_OR_RETURN(in.dockerignore, std::move(context_ignore));
  return in;
}

Result<DockerfileFiles> ReadInputDockerfile(const llb::Definition& def, session::Session& s,
                                            const FrontendSettings& f, bool local_context,
                                            const SolveAndView& solve) {
  HOIST_ASSIGN_OR_RETURN(auto files, llb::InlineFiles(def));
  if (files) {
    return ReadInputFiles(
        [&](const std::string& path) -> Result<std::optional<std::string>> {
          auto it = files->find(CleanPath("/" + path).substr(1));
          if (it == files->end()) return std::optional<std::string>();
          if (it->second.size() > kMaxDockerfileBytes) {
            return MakeError(Code::kResourceExhausted, fmt::format("{}: larger than 64 MiB", path));
          }
          return std::optional<std::string>(it->second);
        },
        s, f, local_context);
  }
  DockerfileFiles in;
  HOIST_TRY(solve(def, [&](const std::string& dir) -> Status {
    HOIST_ASSIGN_OR_RETURN(
        in, ReadInputFiles(
                [&](const std::string& path) -> Result<std::optional<std::string>> {
                  auto text = archive::ReadFileInTree(dir, path, kMaxDockerfileBytes);
                  if (!text && text.error().code() == Code::kNotFound) {
                    return std::optional<std::string>();
                  }
                  if (!text) return Unexpected(std::move(text).error());
                  return std::optional<std::string>(std::move(*text));
                },
                s, f, local_context));
    return OkStatus();
  }));
  return in;
}

bool InputReadFromLocal(const llb::Definition& def) {
  auto head = def.Head();
  if (!head || !*head) return false;
  auto md = def.metadata.find(**head);
  return md != def.metadata.end() &&
         md->second.description.contains(std::string(llb::kInlineFromLocal));
}

}  // namespace hoist::control
