#include "common/http_client.h"

#include <curl/curl.h>

#include <cstdio>
#include <mutex>

#include "common/crypto.h"

namespace corral {

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string* body = nullptr;
  FILE* file = nullptr;
  Sha256Stream* hash = nullptr;
  size_t written = 0;
  size_t max_bytes = 0;
  bool too_large = false;
};

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * nmemb;
  if (sink->written + n > sink->max_bytes) {
    sink->too_large = true;
    return 0;  // makes curl abort the transfer
  }
  sink->written += n;
  if (sink->hash) sink->hash->Update(std::string_view(data, n));
  if (sink->file) return fwrite(data, 1, n, sink->file);
  sink->body->append(data, n);
  return n;
}

size_t HeaderCallback(char* data, size_t size, size_t nmemb, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * nmemb);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = line.substr(0, colon);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
      value.pop_back();
    (*headers)[key] = value;
  } else if (line.rfind("HTTP/", 0) == 0) {
    headers->clear();  // a new response (after a redirect) starts
  }
  return size * nmemb;
}

}  // namespace

std::string HttpResult::Describe() const {
  if (!error.empty()) return error;
  std::string excerpt = body.substr(0, 300);
  return "HTTP " + std::to_string(status) + (excerpt.empty() ? "" : ": " + excerpt);
}

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) { GlobalInit(); }

HttpResult HttpClient::Get(const std::string& url, const Headers& headers) const {
  return Perform("GET", url, nullptr, headers);
}
HttpResult HttpClient::Post(const std::string& url, const std::string& body, const Headers& headers) const {
  return Perform("POST", url, &body, headers);
}
HttpResult HttpClient::Put(const std::string& url, const std::string& body, const Headers& headers) const {
  return Perform("PUT", url, &body, headers);
}

HttpResult HttpClient::Perform(const std::string& method, const std::string& url,
                               const std::string* body, const Headers& headers) const {
  HttpResult result;
  CURL* curl = curl_easy_init();
  if (!curl) {
    result.error = "cannot initialise libcurl";
    return result;
  }
  Sink sink;
  sink.body = &result.body;
  sink.max_bytes = options_.max_body_bytes;
  curl_slist* list = nullptr;
  for (const auto& [k, v] : headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  if (body) list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  std::string local = "host!" + options_.local_address;
  if (!options_.local_address.empty()) curl_easy_setopt(curl, CURLOPT_INTERFACE, local.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    if (method == "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
  }
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    result.error = sink.too_large ? "the answer from " + url + " exceeds " +
                                        std::to_string(sink.max_bytes) + " bytes"
                                  : std::string(curl_easy_strerror(rc)) + " (" + method + " " + url + ")";
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

HttpResult HttpClient::Download(const std::string& url, const std::filesystem::path& dest,
                                size_t max_bytes, std::string* sha256) const {
  HttpResult result;
  FILE* file = std::fopen(dest.c_str(), "wb");
  if (!file) {
    result.error = "cannot write " + dest.string();
    return result;
  }
  CURL* curl = curl_easy_init();
  Sha256Stream hash;
  Sink sink;
  sink.file = file;
  sink.hash = &hash;
  sink.max_bytes = max_bytes;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options_.timeout_ms * 10);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  std::string local = "host!" + options_.local_address;
  if (!options_.local_address.empty()) curl_easy_setopt(curl, CURLOPT_INTERFACE, local.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_easy_cleanup(curl);
  bool closed = std::fclose(file) == 0;
  if (rc != CURLE_OK) {
    result.error = sink.too_large ? url + " is larger than the limit of " +
                                        std::to_string(max_bytes) + " bytes"
                                  : std::string(curl_easy_strerror(rc)) + " (GET " + url + ")";
  } else if (!closed) {
    result.error = "cannot finish writing " + dest.string();
  }
  *sha256 = hash.FinalHex();
  return result;
}

std::string ResolveUrl(const std::string& base, const std::string& ref) {
  GlobalInit();
  CURLU* u = curl_url();
  std::string out = ref;
  if (curl_url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, ref.c_str(), 0) == CURLUE_OK) {
    char* s = nullptr;
    if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
      out = s;
      curl_free(s);
    }
  }
  curl_url_cleanup(u);
  return out;
}

std::string UrlHostOf(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  size_t end = url.find_first_of("/?#", scheme + 3);
  std::string host = url.substr(scheme + 3, end == std::string::npos ? std::string::npos : end - scheme - 3);
  size_t at = host.rfind('@');
  return at == std::string::npos ? host : host.substr(at + 1);
}

std::string UrlPathOf(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

}  // namespace corral
