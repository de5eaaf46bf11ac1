// The mustache templates of the public site, compiled into the binary so that
// `corral serve` and `corral export-static` need no files at run time.
//
// Contract for every template: it is XHTML-compatible (void elements are
// self-closed, attributes quoted, boolean attributes spelled out, no named
// entities beyond XML's), so that tests can parse pages as XML; and every
// value goes through {{escaped}} tags. The one exception is {{{content}}} in
// kLayoutTemplate, which receives a page body rendered by these templates.
#pragma once

namespace corral::site {

// The shared document: head (viewport, inline CSS), header links, footer.
// Keys: title, content (pre-rendered HTML), has_json, json_url.
extern const char kLayoutTemplate[];

// Bodies of the pages; the keys each one reads are set in site.cc.
extern const char kHomeTemplate[];
extern const char kProjectTemplate[];
extern const char kTaskTemplate[];
extern const char kLeaderboardTemplate[];
extern const char kVolunteerTemplate[];
extern const char kAccountTemplate[];
extern const char kNotFoundTemplate[];

}  // namespace corral::site
