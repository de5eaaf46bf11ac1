#include "common/text.h"

#include <catch2/catch.hpp>
#include <string>

using corral::IsValidUtf8;

TEST_CASE("UTF-8: well-formed sequences pass, broken ones do not") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d"));  // é, €, a snake
  CHECK_FALSE(IsValidUtf8("\xc3"));              // truncated two-byte sequence
  CHECK_FALSE(IsValidUtf8("\xe2\x82"));          // truncated three-byte sequence
  CHECK_FALSE(IsValidUtf8("\x80"));              // a lone continuation byte
  CHECK_FALSE(IsValidUtf8("a\xc3(b"));           // a continuation byte missing
  CHECK_FALSE(IsValidUtf8("\xf8\x88\x80\x80\x80"));  // five-byte forms are not UTF-8
  CHECK_FALSE(IsValidUtf8(std::string("\xff", 1)));
}
