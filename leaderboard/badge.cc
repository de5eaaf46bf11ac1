#include "leaderboard/badge.h"

#include "common/outcome.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "common/platform.h"
#include "leaderboard/site.h"

namespace corral::site {
namespace {

using json = nlohmann::json;

// Verdana's advance widths in ems for printable ASCII, from ' ' (32) to '~'.
constexpr double kVerdanaEm[95] = {
    0.3516, 0.3936, 0.4600, 0.8174, 0.6362, 1.0762, 0.7256, 0.2686,  //  !"#$%&'
    0.4541, 0.4541, 0.6362, 0.8174, 0.3636, 0.4541, 0.3636, 0.4541,  // ()*+,-./
    0.6362, 0.6362, 0.6362, 0.6362, 0.6362, 0.6362, 0.6362, 0.6362,  // 01234567
    0.6362, 0.6362, 0.4541, 0.4541, 0.8174, 0.8174, 0.8174, 0.5459,  // 89:;<=>?
    1.0000, 0.6836, 0.6855, 0.6982, 0.7705, 0.6318, 0.5752, 0.7754,  // @ABCDEFG
    0.7510, 0.4209, 0.4551, 0.6924, 0.5566, 0.8428, 0.7481, 0.7871,  // HIJKLMNO
    0.6025, 0.7871, 0.6943, 0.6836, 0.6162, 0.7324, 0.6836, 0.9893,  // PQRSTUVW
    0.6855, 0.6152, 0.6855, 0.4541, 0.4541, 0.4541, 0.8174, 0.6362,  // XYZ[\]^_
    0.6362, 0.6011, 0.6230, 0.5205, 0.6230, 0.5956, 0.3516, 0.6230,  // `abcdefg
    0.6328, 0.2744, 0.3442, 0.5918, 0.2744, 0.9727, 0.6328, 0.6074,  // hijklmno
    0.6230, 0.6230, 0.4268, 0.5205, 0.3945, 0.6328, 0.5918, 0.8184,  // pqrstuvw
    0.5918, 0.5918, 0.5254, 0.6362, 0.4541, 0.6362, 0.8174,          // xyz{|}~
};
constexpr double kFontPx = 11;
constexpr double kEnDashEm = 0.6362;
constexpr double kWideEm = 0.9727;  // 'm'

// Status words the badge sorts cells by (the same words as the matrix).
bool Works(const std::string& s) { return IsWorkingStatus(s); }
bool Fails(const std::string& s) {
  return s == "tests_failed" || s == "import_failed" || s == "install_failed" ||
         s == "build_failed" || s == "timeout" || s == "resource_exhausted";
}

const json& Field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Str(const json& j, const char* key) {
  const json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

// A Python line: implementation and X.Y, ordered cp before pp.
using PyKey = std::tuple<std::string, int, int>;

// "2.7, 3.6–3.13" for sorted minors of one implementation.
std::string Ranges(const std::vector<PyKey>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size();) {
    size_t j = i;
    while (j + 1 < keys.size() && std::get<1>(keys[j + 1]) == std::get<1>(keys[j]) &&
           std::get<2>(keys[j + 1]) == std::get<2>(keys[j]) + 1)
      ++j;
    auto spell = [](const PyKey& k) {
      return std::to_string(std::get<1>(k)) + "." + std::to_string(std::get<2>(k));
    };
    if (!out.empty()) out += ", ";
    out += spell(keys[i]);
    if (j > i) out += "\xE2\x80\x93" + spell(keys[j]);  // en dash
    i = j + 1;
  }
  return out;
}

std::string Px(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", x);
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

}  // namespace

Badge BadgeForProject(const json& project) {
  Badge b;
  const json& rows = Field(project, "versions");
  const json* chosen = nullptr;
  if (rows.is_array()) {
    for (const json& r : rows) {
      const json& yanked = Field(r, "yanked");
      if (yanked.is_boolean() && yanked.get<bool>()) continue;
      bool conclusive = false;
      const json& cells = Field(r, "cells");
      if (cells.is_object())
        for (const auto& [_, c] : cells.items()) {
          std::string s = Str(c, "status");
          conclusive = conclusive || Works(s) || Fails(s);
        }
      if (conclusive) {
        chosen = &r;
        break;
      }
    }
    if (!chosen && !rows.empty()) chosen = &rows.front();
  }
  std::map<PyKey, std::pair<bool, bool>> lines;  // works anywhere, fails anywhere
  int verdicts = 0, unsupported = 0;
  if (chosen) {
    b.version = Str(*chosen, "version");
    const json& cells = Field(*chosen, "cells");
    if (cells.is_object()) {
      for (const auto& [tag, c] : cells.items()) {
        std::string s = Str(c, "status");
        if (s == "pending" || s.empty()) continue;
        ++verdicts;
        if (s == "unsupported") ++unsupported;
        PlatformTag t;
        std::string err;
        if (!ParsePlatformTag(tag, &t, &err)) continue;
        auto& line = lines[{t.implementation, t.major, t.minor}];
        line.first = line.first || Works(s);
        line.second = line.second || Fails(s);
      }
    }
  }
  std::vector<PyKey> cp, pp;
  bool any_fail = false;
  for (const auto& [key, state] : lines) {
    any_fail = any_fail || state.second;
    if (state.first && !state.second) (std::get<0>(key) == "pp" ? pp : cp).push_back(key);
  }
  if (!cp.empty() || !pp.empty()) {
    std::string list;
    if (!cp.empty()) list = "py" + Ranges(cp);
    if (!pp.empty()) {
      std::string pypy = Ranges(pp);
      // "pypy3.9, 3.10": every PyPy line after the first keeps its number only.
      list += (list.empty() ? "" : ", ") + std::string("pypy") + pypy;
    }
    b.message = list + " passing";
    b.color = any_fail ? "#dfb317" : "#4c1";
  } else if (any_fail) {
    b.message = "failing";
    b.color = "#e05d44";
  } else if (verdicts > 0 && unsupported == verdicts) {
    b.message = "unsupported";
    b.color = "#9f9f9f";
  } else {
    b.message = "unknown";
    b.color = "#9f9f9f";
  }
  return b;
}

double BadgeTextWidth(std::string_view text) {
  double em = 0;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 32 && c < 127) {
      em += kVerdanaEm[c - 32];
      ++i;
      continue;
    }
    if (text.substr(i, 3) == "\xE2\x80\x93") {
      em += kEnDashEm;
      i += 3;
      continue;
    }
    // Any other character, counted once per UTF-8 sequence.
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    em += c < 32 ? 0 : kWideEm;
    i += len;
  }
  return std::ceil(em * kFontPx * 10) / 10;
}

std::string RenderBadgeSvg(const Badge& b) {
  // Layout of the flat style: 20px high, 5px padding each side of a text.
  double lw = BadgeTextWidth(b.label) + 10, mw = BadgeTextWidth(b.message) + 10, w = lw + mw;
  std::string label = HtmlEscape(b.label), message = HtmlEscape(b.message);
  std::string color = HtmlEscape(b.color.empty() ? "#9f9f9f" : b.color);
  std::string title = label + ": " + message;
  // Text is drawn at 10x scale (font-size 110) and scaled down, as the flat
  // style does, so that textLength can be given in whole tenths of a pixel.
  auto text = [&](const std::string& s, double x, double width) {
    std::string tx = Px(x * 10), tl = Px((width - 10) * 10);
    return "<text aria-hidden=\"true\" x=\"" + tx + "\" y=\"150\" fill=\"#010101\" fill-opacity=\".3\" " +
           "transform=\"scale(.1)\" textLength=\"" + tl + "\">" + s + "</text>" + "<text x=\"" + tx +
           "\" y=\"140\" transform=\"scale(.1)\" fill=\"#fff\" textLength=\"" + tl + "\">" + s +
           "</text>";
  };
  std::string svg;
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Px(w) + "\" height=\"20\" role=\"img\" " +
         "aria-label=\"" + title + "\">";
  svg += "<title>" + title + "</title>";
  // The message box is the whole badge, rounded; the label box covers its
  // left part with its own left corners rounded. No gradients, clip paths or
  // ids, so that several badges can sit inline in one page.
  svg += "<rect width=\"" + Px(w) + "\" height=\"20\" rx=\"3\" fill=\"" + color + "\"/>";
  svg += "<path fill=\"#555\" d=\"M3 0H" + Px(lw) + "V20H3A3 3 0 0 1 0 17V3A3 3 0 0 1 3 0Z\"/>";
  svg += "<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" "
         "text-rendering=\"geometricPrecision\" font-size=\"110\">";
  svg += text(label, lw / 2, lw);
  svg += text(message, lw + mw / 2, mw);
  svg += "</g></svg>";
  return svg;
}

json BadgeJson(const Badge& b) {
  return {{"schemaVersion", 1}, {"label", b.label}, {"message", b.message}, {"color", b.color}};
}

}  // namespace corral::site
