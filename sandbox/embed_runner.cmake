# Embeds sandbox/runner.py in the binary as kRunnerPy (run at build time).
file(READ "${IN}" content)
file(WRITE "${OUT}.tmp" "// Generated from sandbox/runner.py by sandbox/embed_runner.cmake; do not edit.\n#include \"sandbox/runner_script.h\"\nnamespace corral::sandbox {\nconst char kRunnerPy[] = R\"CORRAL_PY(${content})CORRAL_PY\";\n}  // namespace corral::sandbox\n")
file(RENAME "${OUT}.tmp" "${OUT}")
