#include "hostile_packages.h"

#include <nlohmann/json.hpp>

namespace corral::sandbox::testing {

namespace {

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// Renames the calling process (and, through fork, its children) to @MARKER@.
constexpr const char kMark[] = R"PY(
def _mark():
    try:
        import ctypes
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b"@MARKER@"), 0, 0, 0)
    except Exception as e:
        print("cannot rename the process: %r" % (e,))
)PY";

std::string WithMark(const std::string& source, const std::string& marker) {
  return Replace(Replace(source, "@MARK@", kMark), "@MARKER@", marker.substr(0, 15));
}

}  // namespace

std::string NetworkAttack(int port, const std::string& abstract_name) {
  return Replace(Replace(R"PY(import socket
import unittest


def _say(text):
    print(text)


class TestNetwork(unittest.TestCase):
    def test_host_loopback_tcp(self):
        try:
            s = socket.create_connection(("127.0.0.1", @PORT@), timeout=3)
        except Exception as e:
            _say("NET loopback blocked: %r" % (e,))
            raise
        s.sendall(b"exfiltrated")
        s.close()
        _say("NET loopback CONNECTED")

    def test_host_abstract_unix_socket(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect("\0@ABSTRACT@")
        except Exception as e:
            _say("NET abstract blocked: %r" % (e,))
            raise
        s.sendall(b"exfiltrated")
        _say("NET abstract CONNECTED")

    def test_internet_tcp(self):
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=3).close()
        except Exception as e:
            _say("NET internet blocked: %r" % (e,))
            raise
        _say("NET internet CONNECTED")

    def test_dns(self):
        try:
            socket.getaddrinfo("pypi.org", 443)
        except Exception as e:
            _say("NET dns blocked: %r" % (e,))
            raise
        _say("NET dns RESOLVED")
)PY",
                         "@PORT@", std::to_string(port)),
                 "@ABSTRACT@", abstract_name);
}

std::string SecretsAttack(const std::vector<std::string>& paths, const std::string& env_name,
                          const std::string& key_name) {
  std::string src = R"PY(import os
import unittest

PATHS = @PATHS@
ENV_NAME = "@ENV_NAME@"
KEY_NAME = "@KEY_NAME@"
stolen = []


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read(65536)
    except Exception as e:
        print("READ %s refused: %s" % (path, e))
        return False
    print("STOLEN %s %r" % (path, data[:200]))
    stolen.append(data)
    with open("/job/stolen", "ab") as f:
        f.write(data)
    return True


class TestSecrets(unittest.TestCase):
    def test_read_files_outside(self):
        got = [p for p in PATHS if _read(p)]
        self.assertTrue(got, "no file outside the job folder could be read")

    def test_secret_in_environments(self):
        found = []
        if ENV_NAME in os.environ:
            found.append("self")
            print("STOLEN env %s" % os.environ[ENV_NAME])
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            for what in ("environ", "cmdline"):
                try:
                    with open("/proc/%s/%s" % (pid, what), "rb") as f:
                        data = f.read()
                except Exception:
                    continue
                if (ENV_NAME + "=").encode("ascii") in data:
                    found.append(pid)
                    _read("/proc/%s/%s" % (pid, what))
        print("ENV processes seen: %s, secret found in: %r" % (
            len([p for p in os.listdir("/proc") if p.isdigit()]), found))
        self.assertTrue(found, "the secret is in no visible environment")

    def test_search_for_keys(self):
        hits = []
        for top in os.listdir("/"):
            if top in ("proc", "sys", "dev", "usr"):
                continue
            for root, dirs, files in os.walk("/" + top):
                if root.count("/") >= 5:  # deep enough for a key, and quick
                    del dirs[:]
                hits.extend(os.path.join(root, f) for f in files if f == KEY_NAME)
        print("SEARCH found %r" % (hits,))
        got = [h for h in hits if _read(h)]
        self.assertTrue(got, "no key file found")
)PY";
  return Replace(Replace(Replace(src, "@PATHS@", nlohmann::json(paths).dump()), "@ENV_NAME@", env_name),
                 "@KEY_NAME@", key_name);
}

std::string WriteOutsideAttack(const std::vector<std::string>& paths) {
  return Replace(R"PY(import os
import unittest

PATHS = @PATHS@


class TestWriteOutside(unittest.TestCase):
    def test_write(self):
        done = []
        for p in PATHS:
            try:
                with open(p, "ab") as f:
                    f.write(b"pwned\n")
                done.append(p)
                print("WRITE %s ok" % p)
            except (IOError, OSError) as e:
                print("WRITE %s errno=%s" % (p, e.errno))
        self.assertEqual(done, PATHS)

    def test_tamper(self):
        done = []
        for p in PATHS:
            for name, op in (("chmod", lambda: os.chmod(p, 0o777)),
                             ("utime", lambda: os.utime(p, (0, 0))),
                             ("rename", lambda: os.rename(p, p + ".moved")),
                             ("remove", lambda: os.remove(p))):
                try:
                    op()
                    done.append((name, p))
                    print("TAMPER %s %s ok" % (name, p))
                except (IOError, OSError) as e:
                    print("TAMPER %s %s errno=%s" % (name, p, e.errno))
        self.assertEqual(len(done), 4 * len(PATHS))
)PY",
                 "@PATHS@", nlohmann::json(paths).dump());
}

std::string ForkBomb(const std::string& marker) {
  return WithMark(R"PY(import os
import time
import unittest
@MARK@

class TestForkBomb(unittest.TestCase):
    def test_bomb(self):
        _mark()
        told = False
        while True:
            try:
                os.fork()
            except OSError as e:
                if not told:
                    print("fork refused: %s" % (e,))
                    told = True
                time.sleep(0.05)
)PY",
                  marker);
}

std::string MemoryBomb(const std::string& marker) {
  return WithMark(R"PY(import unittest
@MARK@

class TestMemoryBomb(unittest.TestCase):
    def test_bomb(self):
        _mark()
        hog = []
        while True:
            hog.append(b"\x01" * (16 << 20))
)PY",
                  marker);
}

std::string FillTmp() {
  return R"PY(import unittest


class TestFillTmp(unittest.TestCase):
    def test_fill(self):
        chunk = b"\0" * (1 << 20)
        written = 0
        with open("/tmp/fill", "wb") as f:
            while True:
                f.write(chunk)
                f.flush()
                written += 1
                if written % 16 == 0:
                    print("wrote %d MiB to /tmp" % written)
)PY";
}

std::string FillJobFolder(const std::string& marker) {
  return WithMark(R"PY(import unittest
@MARK@

class TestFillJob(unittest.TestCase):
    def test_fill(self):
        _mark()
        chunk = b"\1" * (1 << 20)
        i = 0
        while True:
            with open("fill-%d" % i, "wb") as f:
                for _ in range(16):
                    f.write(chunk)
            i += 1
            print("wrote %d MiB" % (16 * i))
)PY",
                  marker);
}

std::string BigFile(long long bytes) {
  return Replace(R"PY(import unittest


class TestBigFile(unittest.TestCase):
    def test_big(self):
        chunk = b"\1" * (1 << 20)
        left = @BYTES@
        with open("big.bin", "wb") as f:
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)
        print("wrote the whole file")
)PY",
                 "@BYTES@", std::to_string(bytes));
}

std::string SilentLoop(const std::string& marker) {
  return WithMark(R"PY(import unittest
@MARK@

class TestSilent(unittest.TestCase):
    def test_loop(self):
        _mark()
        n = 0
        while True:
            n += 1
)PY",
                  marker);
}

std::string PrintLoop(const std::string& marker) {
  return WithMark(R"PY(import unittest
@MARK@

class TestPrint(unittest.TestCase):
    def test_loop(self):
        _mark()
        n = 0
        while True:
            n += 1
            print("spam %d spam spam spam spam spam spam spam spam spam spam spam spam" % n)
)PY",
                  marker);
}

std::string TiocstiAttack() {
  return R"PY(import ctypes
import os
import unittest

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_IOCTL = {"x86_64": 16, "aarch64": 29}.get(os.uname()[4], 16)


def _ioctl(fd, request, arg):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(SYS_IOCTL), ctypes.c_long(fd), ctypes.c_ulong(request), arg)
    return rc, ctypes.get_errno()


class TestTiocsti(unittest.TestCase):
    def test_inject(self):
        master, slave = os.openpty()
        winsize = ctypes.create_string_buffer(8)
        rc, e = _ioctl(slave, 0x5413, winsize)
        print("TIOCGWINSZ pty rc=%d errno=%d" % (rc, e))
        c = ctypes.c_char(b"x")
        worked = []
        for name, request in (("plain", 0x5412), ("high", 0xFFFFFFFF00005412),
                              ("bit32", 0x100005412)):
            for fd_name, fd in (("stdin", 0), ("pty", slave)):
                rc, e = _ioctl(fd, request, ctypes.byref(c))
                print("TIOCSTI %s %s rc=%d errno=%d" % (name, fd_name, rc, e))
                if rc == 0:
                    worked.append((name, fd_name))
        self.assertTrue(worked, "every TIOCSTI was refused")
)PY";
}

}  // namespace corral::sandbox::testing
