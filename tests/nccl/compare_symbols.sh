#!/usr/bin/env bash
# Every nccl*/pnccl* symbol the system libnccl.so.2 exports must be exported by ours, and ours must
# export nothing else (the native API and internals stay hidden). Usage: compare_symbols.sh OURS THEIRS
set -euo pipefail
ours="$1" theirs="$2"
defined() { nm -D --defined-only "$1" | awk '{print $3}' | sed 's/@.*//' | sort -u; }
missing=$(comm -13 <(defined "$ours") <(defined "$theirs" | grep -E '^p?nccl'))
extra=$(defined "$ours" | grep -vE '^p?nccl' || true)
soname=$(readelf -d "$ours" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
status=0
if [ -n "$missing" ]; then echo "missing from $ours:"; echo "$missing"; status=1; fi
if [ -n "$extra" ]; then echo "exported by $ours but not NCCL names:"; echo "$extra"; status=1; fi
if [ "$soname" != "libnccl.so.2" ]; then echo "SONAME is '$soname', not libnccl.so.2"; status=1; fi
echo "$(defined "$ours" | wc -l) symbols exported by ours, $(defined "$theirs" | grep -cE '^p?nccl') nccl symbols by $theirs"
exit $status
