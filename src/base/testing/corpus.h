// Test corpora: the files under HOIST_CORPORA_DIR (../shared/corpora, written by others). Most
// of them are tables a script derived from upstream Go tests, in this shape:
//
//   {"tables": [{"func": "TestParseDigest", "value": [<row>, ...]}, ...]}
//
// one entry per table literal in the Go source, in source order, so one Go function can own
// several; "value" is a single row when the table was one struct literal instead of a slice.
//
// A corpus file that is missing or malformed never aborts the test binary. The loaders return a
// discarded json or no rows, and report the file: called while tests are being registered
// (typically from INSTANTIATE_TEST_SUITE_P's generator) they register one failing test,
// CorpusFile.<file name>, whose message names the file; called inside a test, they fail that
// test. Either way the run fails and says which file to fix.
//
// Included only by tests, so it may pull in nlohmann/json.hpp.
//
// Thread-safety: thread-safe. A loaded file stays cached, and its json alive, until exit.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hoist {

// The absolute path of `rel` (e.g. "distribution-reference/derived/regexp_test.tables.json")
// in the corpora directory.
std::string CorpusPath(std::string_view rel);

// The parsed contents of corpus file `rel`, read once per process. If the file cannot be read
// or is not valid JSON, returns a discarded value (is_discarded()) and reports the file.
const nlohmann::json& LoadCorpusJson(const std::string& rel);

// The rows of the `index`th table (0-based) of Go test function `func` in corpus file `rel`.
// Empty if the file has no such table; empty, and the file reported, if the file cannot be
// loaded or has no "tables" array.
std::vector<nlohmann::json> CorpusTableRows(const std::string& rel, std::string_view func,
                                            int index = 0);

}  // namespace hoist
