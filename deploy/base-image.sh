#!/usr/bin/env bash
# Make a Debian base image without a registry: debootstrap a minimal bookworm with Python, then
# `docker import` it. Elsewhere, skip this and build with the official image:
#   docker build --build-arg BASE=python:3.11-slim-bookworm -f deploy/Dockerfile .
# Usage: deploy/base-image.sh [IMAGE_NAME]   (as root; needs debootstrap and docker)
set -euo pipefail
name="${1:-moodtune-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >/dev/null
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
# python:3.11-slim puts python3 on PATH as `python3` too: the Dockerfile needs nothing else
tar -C "$root" -c . | docker import - "$name" >/dev/null
echo "$name"
