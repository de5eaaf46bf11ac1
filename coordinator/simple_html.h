// Reading PEP 503 "simple" HTML pages: the index's fallback format when it
// does not offer PEP 691 JSON. Those pages are a tiny subset of HTML (a list
// of anchors, perhaps a <meta name="pypi:repository-version">), but they are
// HTML5 as real servers write it: unclosed <br>, unquoted or single-quoted
// attributes, upper-case tags, comments, entities. An XML parser refuses
// most of them, so this is a small tolerant scanner for exactly that subset:
// it never fails, it finds what anchors it can and ignores everything else.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace corral::coordinator {

// One <a> element: its attributes (names lower-cased, values with entities
// decoded; a valueless attribute such as `data-yanked` maps to "") and its
// text (entities decoded, tags inside dropped, surrounding space trimmed).
struct HtmlAnchor {
  std::map<std::string, std::string> attributes;
  std::string text;

  bool Has(const std::string& name) const { return attributes.count(name) > 0; }
  // The attribute's value, or "" when absent.
  const std::string& Attr(const std::string& name) const;
};

// What a simple page holds.
struct SimpleHtmlPage {
  std::vector<HtmlAnchor> anchors;  // in document order
  // The content of <meta name="pypi:repository-version" content="...">
  // (PEP 629), or "" when the page has none (which means 1.0).
  std::string repository_version;
};

// Scans `html` for anchors and the repository-version meta tag. Text inside
// comments, <script>, <style> and <textarea> is skipped. At most
// `max_anchors` anchors are kept (the rest are counted in *dropped when
// given), so a hostile page cannot make the result arbitrarily large.
SimpleHtmlPage ParseSimpleHtml(std::string_view html, size_t max_anchors = 1'000'000,
                               size_t* dropped = nullptr);

// Decodes HTML character references: the named ones simple pages use
// (&amp; &lt; &gt; &quot; &apos; &nbsp;) and numeric ones (&#39; &#x27;).
// Unknown or malformed references are kept as written, as browsers do.
std::string DecodeHtmlEntities(std::string_view s);

}  // namespace corral::coordinator
