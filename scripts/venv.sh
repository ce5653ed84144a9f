# Sourced by the other scripts with what to install: `. scripts/venv.sh requirements.txt` (the runtime,
# for scripts/serve) or `. scripts/venv.sh requirements-dev.txt` (the runtime and the test tools, for
# scripts/test). Makes .venv exist and hold that file's packages, reinstalling only when it changes.
set -euo pipefail
requirements=${1:-requirements.txt}
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "finally: Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "finally: installing python3-venv (Debian package)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PYTHON" -m venv .venv
    else
      echo "finally: '$PYTHON -m venv' failed; install python3-venv (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
# One stamp per requirements file, holding the hash of what it installs (requirements-dev.txt includes
# requirements.txt, so installing it also brings the runtime up to date).
stamp() { echo ".venv/.installed-$(basename "$1" .txt).sha"; }
wanted() {
  if [ "$1" = requirements.txt ]; then sha256sum requirements.txt; else cat requirements.txt "$1" | sha256sum; fi \
    | cut -d' ' -f1
}
if [ "$(cat "$(stamp "$requirements")" 2>/dev/null)" != "$(wanted "$requirements")" ]; then
  echo "finally: installing Python packages from $requirements into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$requirements"
  wanted "$requirements" > "$(stamp "$requirements")"
  [ "$requirements" = requirements.txt ] || wanted requirements.txt > "$(stamp requirements.txt)"
fi
export PATH="$PWD/.venv/bin:$PATH"
