// The public site (DESIGN.md section 7): server-rendered HTML pages made from
// exactly the JSON documents of the read API (docs/API_SHAPES.md), so every
// page also exists as JSON and the site holds no logic of its own beyond
// presentation.
//
// Contract shared by every Render* function:
// - returns a complete HTML5 document (doctype, head with viewport meta and
//   inline CSS, a header linking Home and Leaderboard, a footer); no external
//   assets and no JavaScript;
// - every string from the JSON is HTML-escaped (project names, summaries,
//   test ids and logs come from untrusted packages and volunteers), and every
//   value placed in a URL path is percent-encoded;
// - the output is also well-formed XML (void elements self-closed), so it can
//   be checked with an XML parser;
// - missing or mistyped fields render as empty or "0", never throw;
// - safe to call from several threads at once (templates are compiled per
//   thread).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace corral::site {

// "/" : the lookup form and the list of projects. `projects_list` is the
// GET /api/v1/projects document. `lookup_answer_or_null` is a GET
// /api/v1/compat document when the visitor asked (GET /lookup?...): its
// sentence is shown large and styled by answer (yes/no/unknown/unsupported),
// with the newest working version and the evidence linking to /tasks/<id>;
// the form is pre-filled from it.
std::string RenderHome(const nlohmann::json& projects_list,
                       const nlohmann::json* lookup_answer_or_null);

// "/projects/<name>": the matrix (one row per version in the order given,
// newest first; one cell per platform column), each cell showing its status
// in words and colour, linked to /tasks/<task_id> when there is one; a legend.
// Above the matrix: the project's badge (badge.h) inline, a Markdown snippet
// linking it (absolute when `public_url` is given, e.g.
// "http://127.0.0.1:8787"), and links to the badge's SVG and JSON forms and
// to the project's Atom feed.
std::string RenderProject(const nlohmann::json& project, const std::string& public_url = "");

// "/tasks/<id>": the verdict, the reproduce command, and every result with
// its volunteer, outcome, tests, durations, wheel, environment, commands,
// isolation level and a link to its log (/api/v1/artifacts/<log_sha256>).
std::string RenderTask(const nlohmann::json& task);

// "/leaderboard?window=...": volunteers and accounts in the rank order given,
// credit with one decimal, tabs to switch the window (day, week, all);
// suspended volunteers and accounts marked "suspended" (rank shown as "-"),
// the cheaters exposed with what was clawed back, links to volunteer and
// account pages and to the BOINC statistics export.
std::string RenderLeaderboard(const nlohmann::json& leaderboard);

// "/volunteers/<id>": {"volunteer_id", "name", "account", "account_name",
// "platforms": [tag], "enrolled_at", "verified_results", "credit",
// "recent_average_credit", "cheaters_exposed", "bounty", "suspended",
// "suspended_reason", "suspended_at", "clawed_back", "recent_results":
// [{"task_id", "project", "version", "platform", "outcome", "agrees"}]}.
// A suspended volunteer's page opens with a banner saying why.
std::string RenderVolunteer(const nlohmann::json& volunteer);

// "/accounts/<key>": the GET /api/v1/accounts/{key} document: the account's
// totals (credit, recent average, verified results, cheaters exposed,
// bounty, clawed back), a banner when suspended, and its machines.
std::string RenderAccount(const nlohmann::json& account);

// A 404 page saying there is no `what` here (e.g. "project \"foo\"").
std::string RenderNotFound(const std::string& what);

// Escapes & < > " ' for text and attribute values; replaces control
// characters (other than tab, newline, carriage return) and invalid UTF-8
// with U+FFFD, which neither HTML nor XML may carry.
std::string HtmlEscape(std::string_view text);

// The words a cell status is shown with: "passed", "tests failed",
// "build failed", "pending", "inconclusive", ...; an unknown word as given.
std::string StatusText(std::string_view status);

// The CSS class suffix for a status ("s-" + this): the status itself when it
// is one of the known words, "unknown" otherwise (never untrusted text).
std::string StatusClass(std::string_view status);

}  // namespace corral::site
