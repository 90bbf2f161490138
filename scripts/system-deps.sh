#!/usr/bin/env bash
# Installs the OS packages Tridium needs when they are missing (Debian/Ubuntu, as root).
set -euo pipefail
need=()
if [[ -z "${REDIS_URL:-}" ]] && ! command -v redis-server >/dev/null; then need+=(redis-server); fi
# OCR of scanned PDFs (knowledge.parsing.pdf): Tesseract with the Portuguese model.
langs=$(tesseract --list-langs 2>/dev/null || true)
if ! grep -qx por <<<"$langs"; then need+=(tesseract-ocr tesseract-ocr-por); fi
# The TypeScript contract (clients/ts): openapi-typescript runs on Node.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then need+=(nodejs npm); fi
# The console E2E test (tests/cluster/test_console_e2e.py): Playwright drives Debian's Chromium
# (no `playwright install` browser download).
if ! command -v chromium >/dev/null; then need+=(chromium); fi
# Alert rules are unit-tested with promtool (tests/unit/test_alert_rules.py).
if ! command -v promtool >/dev/null; then need+=(prometheus); fi
# `make bench` drives HTTP load with wrk.
if [[ "${1:-}" == "bench" ]] && ! command -v wrk >/dev/null; then need+=(wrk); fi
if [[ ${#need[@]} -eq 0 ]]; then exit 0; fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "Missing OS packages: ${need[*]}. Install them (or set REDIS_URL) and retry." >&2
  exit 1
fi
echo "Installing OS packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
