// The image reference grammar of github.com/distribution/reference, as hand-written matchers
// (no std::regex: it is slow and recurses per character). Each function matches one of
// upstream's anchored regular expressions, with the same capture groups where it has them:
//
//   reference        := name [ ":" tag ] [ "@" digest ]
//   name             := [domain "/"] remote-name
//   domain           := host [":" port-number]
//   host             := domain-name | "[" IPv6 hex-and-colons "]"
//   domain-name      := domain-component ("." domain-component)*
//   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//   remote-name      := path-component ("/" path-component)*
//   path-component   := [a-z0-9]+ (separator [a-z0-9]+)*
//   separator        := [._] | "__" | "-"+
//   tag              := [\w][\w.-]{0,127}
//   digest           := [A-Za-z][A-Za-z0-9]* ([-_+.][A-Za-z][A-Za-z0-9]*)* ":" [0-9a-fA-F]{32,}
//   identifier       := [a-f0-9]{64}
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string_view>

namespace hoist::oci::reference_grammar {

// `^domainAndPort$`: a registry host with an optional port.
bool MatchDomain(std::string_view s);
// `^remote-name$`: the path of a repository.
bool MatchRemoteName(std::string_view s);
// `^tag$`.
bool MatchTag(std::string_view s);
// `^digest$`: the loose digest form a reference accepts (any algorithm, 32+ hex digits).
bool MatchDigest(std::string_view s);
// `^identifier$`: 64 lowercase hex digits, an image ID without its `sha256:`.
bool MatchIdentifier(std::string_view s);

// anchoredNameRegexp: `^(?:(domain)/)?(remote-name)$`. domain is empty when there is none.
struct NameMatch {
  std::string_view domain;
  std::string_view remote_name;
};
std::optional<NameMatch> MatchName(std::string_view s);

// ReferenceRegexp: `^(name)(?::(tag))?(?:@(digest))?$`. Parts that are absent are empty.
struct ReferenceMatch {
  std::string_view name;
  std::string_view tag;
  std::string_view digest;
};
std::optional<ReferenceMatch> MatchReference(std::string_view s);

}  // namespace hoist::oci::reference_grammar
