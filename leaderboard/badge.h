// SVG badges for READMEs (DESIGN.md section 7): "corral | py2.7, 3.6–3.13
// passing" in the flat style, drawn from a project's matrix document
// (GET /api/v1/projects/{name}, docs/API_SHAPES.md). Self-contained SVG: no
// external fonts, images or scripts.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace corral::site {

// What a badge says.
struct Badge {
  std::string label = "corral";
  std::string message;  // "py2.7, 3.6–3.13 passing", "failing", "unknown", ...
  std::string color;    // "#4c1" ...
  std::string version;  // the release it describes, "" when none
};

// The badge of a project's matrix document. It describes the newest
// non-yanked version with at least one verdict that passes or fails (the
// newest version of all when none has one). A Python version (X.Y, CPython;
// PyPy listed as "pypyX.Y") counts as passing when every verdict for it on
// that release works (passed, no tests) and as failing when any fails.
// Message and colour:
// - some pass: the passing versions, consecutive minors joined by an en dash
//   ("py2.7, 3.6–3.13, pypy3.9 passing"); green when none fails, yellow
//   when some fail;
// - none passes, some fail: "failing", red;
// - every verdict "unsupported": "unsupported", grey;
// - otherwise (no verdict yet, or only inconclusive ones): "unknown", grey.
Badge BadgeForProject(const nlohmann::json& project);

// The width in pixels of `text` in 11px Verdana (the flat style's font),
// from a table of advance widths; characters outside it count as wide as
// "m" so that the text never overflows.
double BadgeTextWidth(std::string_view text);

// The flat-style SVG: a grey label box and a coloured message box, each as
// wide as its text plus 10px of padding; text in Verdana with
// sans-serif fallbacks, held to the computed width by textLength. Text is
// XML-escaped. Well-formed XML.
std::string RenderBadgeSvg(const Badge& badge);

// The same badge as a shields.io endpoint document:
// {"schemaVersion": 1, "label", "message", "color"}.
nlohmann::json BadgeJson(const Badge& badge);

}  // namespace corral::site
