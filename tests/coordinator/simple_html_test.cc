// The tolerant PEP 503 HTML reader, on pages as real servers write them.
#include "coordinator/simple_html.h"

#include <catch2/catch.hpp>

#include "coordinator/index_sync.h"

using namespace corral::coordinator;

TEST_CASE("simple html: anchors with every attribute quoting style, entities and case") {
  const char* html =
      "<!DOCTYPE html>\n<HTML><head>"
      "<META NAME='pypi:repository-version' CONTENT=' 1.1 '>"
      "<title>Links for foo</title></head><BODY>\n"
      "<!-- <a href=\"commented-1.0.tar.gz\">commented-1.0.tar.gz</a> -->\n"
      "<A HREF=\"../../files/foo-1.0.tar.gz#sha256=AbC\" data-requires-python=\"&gt;=3.8,&lt;4\">"
      "foo-1.0.tar.gz</A><br>\n"
      "<a href='../../files/foo-1.1.zip' data-yanked>foo-1.1.zip</a><br/>\n"
      "<a href=../../files/foo-1.2.tar.gz data-yanked=\"bad &amp; broken &#39;x&#x27;\">"
      "  <span>foo-1.2</span>.tar.gz </a>\n"
      "<script>document.write('<a href=\"x\">script-anchor</a>')</script>\n"
      "<a href=\"../../files/foo-2.0-py3-none-any.whl\" data-dist-info-metadata=\"sha256=ff\">"
      "foo-2.0-py3-none-any.whl\n"  // never closed
      "<a href=\"../../files/foo-2.1.tar.gz\" data-core-metadata=true>foo-2.1.tar.gz</a>"
      "</body></html>";
  SimpleHtmlPage page = ParseSimpleHtml(html);
  CHECK(page.repository_version == "1.1");
  REQUIRE(page.anchors.size() == 5);
  CHECK(page.anchors[0].Attr("href") == "../../files/foo-1.0.tar.gz#sha256=AbC");
  CHECK(page.anchors[0].Attr("data-requires-python") == ">=3.8,<4");
  CHECK(page.anchors[0].text == "foo-1.0.tar.gz");
  CHECK(page.anchors[1].Has("data-yanked"));
  CHECK(page.anchors[1].Attr("data-yanked").empty());
  CHECK(page.anchors[2].Attr("href") == "../../files/foo-1.2.tar.gz");
  CHECK(page.anchors[2].Attr("data-yanked") == "bad & broken 'x'");
  CHECK(page.anchors[2].text == "foo-1.2.tar.gz");
  CHECK(page.anchors[3].text == "foo-2.0-py3-none-any.whl");  // unclosed: ends at the next anchor
  CHECK(page.anchors[4].Attr("data-core-metadata") == "true");
  CHECK_FALSE(page.anchors[0].Has("data-yanked"));
}

TEST_CASE("simple html: hostile input ends without a crash and within bounds") {
  CHECK(ParseSimpleHtml("").anchors.empty());
  CHECK(ParseSimpleHtml("<").anchors.empty());
  CHECK(ParseSimpleHtml("<a href=\"unterminated").anchors.size() == 1);
  CHECK(ParseSimpleHtml("<!-- never closed <a href=x>x</a>").anchors.empty());
  CHECK(ParseSimpleHtml("<a").anchors.size() == 1);
  CHECK(ParseSimpleHtml("<abbr>not an anchor</abbr><area href=x>").anchors.empty());
  std::string many;
  for (int i = 0; i < 2000; ++i) many += "<a href=x" + std::to_string(i) + ">";
  size_t dropped = 0;
  SimpleHtmlPage page = ParseSimpleHtml(many, 100, &dropped);
  CHECK(page.anchors.size() == 100);
  CHECK(dropped == 1900);
  CHECK(DecodeHtmlEntities("&amp;&lt;&#65;&#x42;&unknown;&#xZZ;&") == "&<AB&unknown;&#xZZ;&");
  CHECK(DecodeHtmlEntities("&#1114112;") == "\xEF\xBF\xBD");  // beyond Unicode: replacement
}

TEST_CASE("simple html: a PEP 503 project page gives the same files as its JSON form") {
  const std::string sha(64, 'a');
  std::string html =
      "<html><body>"
      "<a href=\"https://files.example/p/foo-1.0.tar.gz#sha256=" + sha +
      "\" data-requires-python=\"&gt;=3.7\">foo-1.0.tar.gz</a>"
      "<a href=\"../../files/foo-1.0-py3-none-any.whl#sha256=" + sha +
      "\" data-core-metadata=\"sha256=" + std::string(64, 'B') + "\">foo-1.0-py3-none-any.whl</a>"
      "<a href=\"../../files/foo-0.9.tar.gz#md5=0123\">foo-0.9.tar.gz</a>"
      "<a href=\"../../files/foo-0.8.tar.gz#sha256=" + sha + "\" data-yanked=\"oops\"></a>"
      "</body></html>";
  IndexPage out;
  std::string err;
  REQUIRE(ParseIndexProjectHtml("http://h/simple/foo/", "foo", html, &out, &err));
  REQUIRE(out.files.size() == 3);
  CHECK(out.files[0].url == "https://files.example/p/foo-1.0.tar.gz");
  CHECK(out.files[0].requires_python == ">=3.7");
  CHECK(out.files[0].kind == "sdist");
  CHECK(out.files[1].url == "http://h/files/foo-1.0-py3-none-any.whl");
  CHECK(out.files[1].core_metadata);
  CHECK(out.files[1].core_metadata_sha256 == std::string(64, 'b'));
  // No text: the file name comes from the URL.
  CHECK(out.files[2].filename == "foo-0.8.tar.gz");
  CHECK(out.files[2].yanked);
  CHECK(out.files[2].yanked_reason == "oops");
  // md5 only: left out, with the reason.
  REQUIRE(out.problems.size() == 1);
  CHECK(out.problems[0].find("foo-0.9.tar.gz") != std::string::npos);

  CHECK_FALSE(ParseIndexProjectHtml("http://h/simple/foo/", "foo",
                                    "<meta name=\"pypi:repository-version\" content=\"2.0\">", &out,
                                    &err));
  CHECK(err.find("PEP 629") != std::string::npos);

  IndexRoot root;
  REQUIRE(ParseIndexRootHtml("<a href=\"foo/\">Foo</a><a href=\"foo-/\">FOO</a><a href=x>bad name!</a>",
                             &root, &err));
  REQUIRE(root.projects.size() == 1);
  CHECK(root.projects[0].name == "Foo");
  CHECK(root.projects[0].last_serial == -1);
  CHECK(root.problems.size() == 2);
}
