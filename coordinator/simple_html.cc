#include "coordinator/simple_html.h"

#include <cctype>
#include <cstdint>

namespace corral::coordinator {

namespace {

const std::string kNone;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Case-insensitive search for an ASCII `needle` (given in lower case).
size_t FindNoCase(std::string_view hay, std::string_view needle, size_t from) {
  if (needle.empty() || hay.size() < needle.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && Lower(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// A start or end tag read at html[lt] == '<'.
struct Tag {
  std::string name;  // lower case; "" when this '<' starts no tag
  bool closing = false;
  std::map<std::string, std::string> attributes;
  size_t end = 0;  // just past the '>' (or the end of the input)
};

Tag ReadTag(std::string_view html, size_t lt) {
  Tag t;
  size_t i = lt + 1, n = html.size();
  if (i < n && html[i] == '/') {
    t.closing = true;
    ++i;
  }
  while (i < n && (std::isalnum(static_cast<unsigned char>(html[i])) || html[i] == '-' ||
                   html[i] == ':'))
    t.name.push_back(Lower(html[i++]));
  if (t.name.empty()) {
    t.end = lt + 1;
    return t;
  }
  while (i < n) {
    while (i < n && (IsSpace(html[i]) || html[i] == '/')) ++i;
    if (i >= n) break;
    if (html[i] == '>') {
      ++i;
      break;
    }
    std::string name;
    while (i < n && !IsSpace(html[i]) && html[i] != '=' && html[i] != '>' && html[i] != '/')
      name.push_back(Lower(html[i++]));
    while (i < n && IsSpace(html[i])) ++i;
    std::string value;
    if (i < n && html[i] == '=') {
      ++i;
      while (i < n && IsSpace(html[i])) ++i;
      if (i < n && (html[i] == '"' || html[i] == '\'')) {
        char q = html[i++];
        size_t close = html.find(q, i);
        if (close == std::string_view::npos) close = n;
        value = DecodeHtmlEntities(html.substr(i, close - i));
        i = close < n ? close + 1 : n;
      } else {
        size_t b = i;
        while (i < n && !IsSpace(html[i]) && html[i] != '>') ++i;
        value = DecodeHtmlEntities(html.substr(b, i - b));
      }
    }
    // The first occurrence of an attribute wins, as in HTML5.
    if (!name.empty()) t.attributes.emplace(std::move(name), std::move(value));
  }
  t.end = i;
  return t;
}

// The text of an element from `from` up to `end`, without tags or comments.
std::string TextOf(std::string_view html, size_t from, size_t end) {
  std::string raw;
  size_t i = from;
  while (i < end) {
    size_t lt = html.find('<', i);
    if (lt == std::string_view::npos || lt >= end) {
      raw.append(html.substr(i, end - i));
      break;
    }
    raw.append(html.substr(i, lt - i));
    size_t gt = html.find('>', lt);
    i = gt == std::string_view::npos || gt >= end ? end : gt + 1;
  }
  return Trim(DecodeHtmlEntities(raw));
}

}  // namespace

const std::string& HtmlAnchor::Attr(const std::string& name) const {
  auto it = attributes.find(name);
  return it == attributes.end() ? kNone : it->second;
}

std::string DecodeHtmlEntities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out.push_back(s[i++]);
      continue;
    }
    size_t semi = s.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12) {
      out.push_back(s[i++]);
      continue;
    }
    std::string_view ref = s.substr(i + 1, semi - i - 1);
    bool done = true;
    if (ref == "amp") out.push_back('&');
    else if (ref == "lt") out.push_back('<');
    else if (ref == "gt") out.push_back('>');
    else if (ref == "quot") out.push_back('"');
    else if (ref == "apos") out.push_back('\'');
    else if (ref == "nbsp") AppendUtf8(&out, 0xA0);
    else if (ref.size() >= 2 && ref[0] == '#') {
      bool hex = ref[1] == 'x' || ref[1] == 'X';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      uint32_t cp = 0;
      bool ok = !digits.empty();
      for (char c : digits) {
        int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                : hex && std::isxdigit(static_cast<unsigned char>(c)) ? 10 + Lower(c) - 'a'
                                                                       : -1;
        if (d < 0 || cp > 0x10FFFF) {
          ok = false;
          break;
        }
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      }
      if (ok) AppendUtf8(&out, cp);
      else done = false;
    } else {
      done = false;
    }
    if (done) {
      i = semi + 1;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

SimpleHtmlPage ParseSimpleHtml(std::string_view html, size_t max_anchors, size_t* dropped) {
  SimpleHtmlPage page;
  if (dropped) *dropped = 0;
  size_t pos = 0, n = html.size();
  while (pos < n) {
    size_t lt = html.find('<', pos);
    if (lt == std::string_view::npos) break;
    if (html.substr(lt, 4) == "<!--") {
      size_t end = html.find("-->", lt + 4);
      pos = end == std::string_view::npos ? n : end + 3;
      continue;
    }
    if (lt + 1 < n && (html[lt + 1] == '!' || html[lt + 1] == '?')) {
      size_t gt = html.find('>', lt);
      pos = gt == std::string_view::npos ? n : gt + 1;
      continue;
    }
    Tag tag = ReadTag(html, lt);
    pos = tag.end;
    if (tag.name.empty() || tag.closing) continue;
    if (tag.name == "script" || tag.name == "style" || tag.name == "textarea") {
      size_t close = FindNoCase(html, "</" + tag.name, pos);
      pos = close == std::string_view::npos ? n : close;
      continue;
    }
    if (tag.name == "meta") {
      auto name = tag.attributes.find("name");
      if (name != tag.attributes.end() && name->second == "pypi:repository-version")
        page.repository_version = Trim(tag.attributes["content"]);
      continue;
    }
    if (tag.name != "a") continue;
    // The anchor's text runs to its end tag, or (unclosed) to the next anchor.
    // One forward scan, so a page of unclosed anchors stays linear.
    size_t end = n;
    for (size_t k = html.find('<', pos); k != std::string_view::npos; k = html.find('<', k + 1)) {
      size_t a = k + 1 < n && html[k + 1] == '/' ? k + 2 : k + 1;
      if (a < n && Lower(html[a]) == 'a' && (a + 1 == n || IsSpace(html[a + 1]) || html[a + 1] == '>')) {
        end = k;
        break;
      }
    }
    if (page.anchors.size() >= max_anchors) {
      if (dropped) ++*dropped;
    } else {
      HtmlAnchor a;
      a.attributes = std::move(tag.attributes);
      a.text = TextOf(html, pos, end);
      page.anchors.push_back(std::move(a));
    }
    pos = end;
  }
  return page;
}

}  // namespace corral::coordinator
