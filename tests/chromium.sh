#!/usr/bin/env bash
# Print the path of a Chromium (or Chrome) for the site's browser test; install Debian's or
# Ubuntu's package where this user can (root, or sudo), else say in one line how to get one.
set -u
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if path=$(command -v "$name"); then echo "$path"; exit 0; fi
done
for path in "/Applications/Chromium.app/Contents/MacOS/Chromium" \
            "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"; do
  if [ -x "$path" ]; then echo "$path"; exit 0; fi
done
package=chromium
. /etc/os-release 2>/dev/null && case " ${ID:-} ${ID_LIKE:-} " in
  *" ubuntu "*) package=chromium-browser ;;
esac
if command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"
  else sudo="none"; fi
  if [ "$sudo" != none ]; then
    echo "the site test needs Chromium: installing $package with apt-get" >&2
    $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq "$package" >&2 \
      && for name in chromium chromium-browser; do
           if path=$(command -v "$name"); then echo "$path"; exit 0; fi
         done
  fi
  echo "the site test needs Chromium: run \`sudo apt-get install $package\`, then make test again" >&2
elif [ "$(uname -s)" = Darwin ]; then
  echo "the site test needs Chromium: run \`brew install --cask chromium\`, then make test again" >&2
else
  echo "the site test needs Chromium: install it with your package manager (the package is usually \`chromium\`), then make test again" >&2
fi
exit 1
