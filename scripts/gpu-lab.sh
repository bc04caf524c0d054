#!/bin/bash
# gpu-lab.sh — the proof run on the real GPU machine (../shared/gpu-lab/README.md), which has no node,
# no podman and no network. It carries .gpu-kit (crun, runc, a driver-free rootfs, vadd.cu; made by
# ../shared/gpu-lab/prepare-kit.sh, node.xz removed) and .gpu-carry/oci-gpu.xz (the shipped binary,
# xz-compressed: `sh scripts/build.sh && xz -T2 -6 -c build/oci-gpu > .gpu-carry/oci-gpu.xz`).
# Writes its log and measurements under $OUT. Steps (each prints a "## " header):
#   facts of the host · scan + cdi generate against nvidia-smi · no-edit control (must fail) ·
#   precreate edit with crun and runc (nvidia-smi -L, VADD OK, exact /dev/nvidia*), read-only,
#   NVIDIA_VISIBLE_DEVICES, void = byte for byte · oci-gpu-runtime · the CDI spec's edits ·
#   legacy refusal on cgroup v2 · start-cost loop · process times · the watcher.
# LAB_ROOT=<fixture host> rehearses it on a CPU machine (stub nvcc/nvidia-smi on PATH).
set -u
OUT=${OUT:-/tmp/gpu-lab-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-lab.log") 2>&1
K=$PWD/.gpu-kit C=$PWD/.gpu-carry W=/tmp/lab
export LD_LIBRARY_PATH=$K/prefix/usr/lib/x86_64-linux-gnu
CRUN=$K/prefix/usr/bin/crun RUNC=$K/prefix/usr/sbin/runc
CLEAN="env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ROUNDS=${LAB_ROUNDS:-30}
rm -rf "$W" && mkdir -p "$W/bin"
R=${LAB_ROOT:-/}
h() { printf '\n## %s\n' "$*"; }
us() { echo $(( ($(date +%s%N) - $1) / 1000 )); }   # microseconds since $1 (ns)
# jedit FILE PYTHON — edits a JSON file in place; the code sees it as `c` (python3: the host has no node).
jedit() { python3 -c 'import json,sys
f=sys.argv[1]; c=json.load(open(f)); exec(sys.argv[2]); json.dump(c, open(f, "w"), indent=1)' "$@"; }   # extra arguments: sys.argv[3:]

h setup
xz -dc "$C/oci-gpu.xz" > "$W/bin/oci-gpu" && chmod 755 "$W/bin/oci-gpu"
ln -s oci-gpu "$W/bin/oci-gpu-hook" && ln -s oci-gpu "$W/bin/oci-gpu-runtime"
BIN=$W/bin/oci-gpu HOOK=$W/bin/oci-gpu-hook RUNTIME=$W/bin/oci-gpu-runtime
$CLEAN "$BIN" --version
command -v node >/dev/null && echo "node is on PATH here: $(command -v node)" || echo "no node on this machine"
nvcc -O2 -arch=sm_90 -o "$W/vadd" "$K/vadd.cu" && echo "vadd built"
uname -r; nvidia-smi -L; $CRUN --version | head -n 1; $RUNC --version | head -n 1
for t in nvidia-ctk nvidia-cdi-hook nvidia-container-cli nvidia-container-runtime nvidia-container-runtime-hook; do
  printf '%s: %s\n' "$t" "$(command -v "$t" || echo absent)"
done

h "facts for MIG, IMEX, params masking and CUDA compat (read only: nothing is changed)"
cat /proc/driver/nvidia/params 2>&1 | head -n 40 > "$OUT/params.txt"; grep -n ModifyDeviceFiles "$OUT/params.txt"
(cd /proc/driver/nvidia/capabilities 2>/dev/null && find . -maxdepth 4 | sort | head -n 40; for f in $(find . -name access | head -n 8); do echo "$f: $(cat "$f" | tr '\n' ' ')"; done)
head -n 12 /proc/driver/nvidia-caps/mig-minors 2>&1; wc -l /proc/driver/nvidia-caps/mig-minors 2>&1
ls -l /dev/nvidia-caps /dev/nvidia-caps-imex-channels 2>&1 | head
nvidia-smi --query-gpu=index,uuid,pci.bus_id,mig.mode.current --format=csv 2>&1
nvidia-smi -q -x > "$OUT/nvidia-smi-q.xml" 2>&1; grep -n -i -A3 '<mig_mode>' "$OUT/nvidia-smi-q.xml" | head
ls -d /usr/local/cuda*/compat 2>&1; ls /usr/local/cuda*/compat 2>&1 | head

h "scan and cdi generate on / against nvidia-smi"
$CLEAN "$BIN" scan --root "$R" --output "$W/manifest.json"
M=$W/manifest.json; cp "$M" "$OUT/manifest.json"
$CLEAN "$BIN" cdi generate --root "$R" --output "$W/cdi.json" && cp "$W/cdi.json" "$OUT/cdi.json"
python3 - "$M" <<'PY'
import json, subprocess, sys
m = json.load(open(sys.argv[1]))
smi = [l.split(', ') for l in subprocess.run(['nvidia-smi', '--query-gpu=index,uuid,pci.bus_id', '--format=csv,noheader'], capture_output=True, text=True).stdout.strip().splitlines()]
ours = [(str(g['index']), g['uuid'], g['pciBusId']) for g in m['gpus']]
theirs = [(i, u, b.lower()[-12:]) for i, u, b in smi]
print('manifest GPUs:', ours)
print('nvidia-smi GPUs:', theirs)
print('UUIDs and bus ids match:', [(o[1], o[2]) for o in ours] == [(t[1], t[2]) for t in theirs])
print('tools:', m['tools'])
PY
SCAN_MS=""; for i in 1 2 3 4 5 6 7 8 9 10; do t=$(date +%s%N); $CLEAN "$BIN" scan --root "$R" --json > /dev/null; SCAN_MS="$SCAN_MS $(( $(us $t) / 1000 ))"; done
echo "oci-gpu scan as a process (ms, 10 runs):$SCAN_MS"

# One bundle per use; config.base.json asks for GPU 0 by annotation, as Podman would pass it.
mkbundle() { # name, process args as a python list literal
  b=$W/$1; mkdir -p "$b"; cp -a "$K/rootfs" "$b/rootfs"; cp "$W/vadd" "$b/rootfs/vadd"
  (cd "$b" && $CRUN spec) && jedit "$b/config.json" "c['root']={'path':'$b/rootfs','readonly':False};c['process']['terminal']=False;c['process']['args']=$2;c['annotations']={'oci-gpu/devices':'0'}"
  cp "$b/config.json" "$b/config.base.json"
}
CHECK="['sh','-c','ls /dev/nvidia* 2>&1 | tr \"\\\\n\" \" \"; echo; nvidia-smi -L; /vadd; echo exit=\$?']"
mkbundle check "$CHECK"
mkbundle true "['/bin/true']"
runit() { rt=$1 b=$2 id=$3; (cd "$b" && $rt run "$id" < /dev/null); }
both() { for rt in "$CRUN" "$RUNC"; do echo "-- $(basename "$rt")"; runit "$rt" "$W/check" "$1-$RANDOM"; done; }

h "control: no edits (must fail: no nvidia-smi, no CUDA)"
both ctl

h "precreate edit applied to config.json (as Podman does), crun and runc"
$CLEAN "$HOOK" precreate --manifest "$M" < "$W/check/config.base.json" > "$W/check/config.json"; echo "hook exit $?"
cp "$W/check/config.json" "$OUT/config-precreate.json"; cp "$W/check/config.json" "$W/check/config.pre.json"
python3 -c 'import json,sys; print("post-mount step:", list(json.load(open(sys.argv[1]))["hooks"]))' "$W/check/config.json"
both pre
echo "-- read-only rootfs (its precreate edit runs the post-mount step from the runtime's namespace)"
cp "$W/check/config.base.json" "$W/check/config.ro.json"; jedit "$W/check/config.ro.json" "c['root']['readonly']=True"
$CLEAN "$HOOK" precreate --manifest "$M" < "$W/check/config.ro.json" > "$W/check/config.json"; echo "hook exit $?"
python3 -c 'import json,sys; print("post-mount step:", list(json.load(open(sys.argv[1]))["hooks"]))' "$W/check/config.json"; both ro

h "NVIDIA_VISIBLE_DEVICES=all without annotation (env contract), crun; then void = byte for byte"
cp "$W/check/config.base.json" "$W/check/config.env.json"; jedit "$W/check/config.env.json" "del c['annotations']['oci-gpu/devices'];c['process']['env'].append('NVIDIA_VISIBLE_DEVICES=all')"
$CLEAN "$HOOK" precreate --manifest "$M" < "$W/check/config.env.json" > "$W/check/config.json" && runit "$CRUN" "$W/check" env-$RANDOM
jedit "$W/check/config.env.json" "c['process']['env']=[e if not e.startswith('NVIDIA_VISIBLE_DEVICES=') else 'NVIDIA_VISIBLE_DEVICES=void' for e in c['process']['env']]"
$CLEAN "$HOOK" precreate --manifest "$M" < "$W/check/config.env.json" | cmp - "$W/check/config.env.json" && echo "void: identical"

h "GPU selection forms on the real GPU (issue 12 on one GPU): by UUID and by PCI bus id; an index past the last GPU refused"
UUID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gpus"][0]["uuid"])' "$M")
BUS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gpus"][0]["pciBusId"])' "$M")
for sel in "$UUID" "$BUS"; do
  echo "-- oci-gpu/devices=$sel (crun)"
  cp "$W/check/config.base.json" "$W/check/config.sel.json"; jedit "$W/check/config.sel.json" "c['annotations']['oci-gpu/devices']=sys.argv[3];c['process']['args']=['sh','-c','nvidia-smi -L; ls /dev | grep -c ^nvidia[0-9]']" "$sel"
  $CLEAN "$HOOK" precreate --manifest "$M" < "$W/check/config.sel.json" > "$W/check/config.json" && runit "$CRUN" "$W/check" sel-$RANDOM
done
echo "-- NVIDIA_VISIBLE_DEVICES=1 on a one-GPU host"
cp "$W/check/config.env.json" "$W/check/config.sel.json"; jedit "$W/check/config.sel.json" "c['process']['env']=[e for e in c['process']['env'] if not e.startswith('NVIDIA_VISIBLE_DEVICES=')]+['NVIDIA_VISIBLE_DEVICES=1']"
$CLEAN "$HOOK" precreate --manifest "$M" < "$W/check/config.sel.json" > /dev/null; echo "hook exit $?"
echo "-- oci-gpu doctor (host)"
$CLEAN "$BIN" doctor --manifest "$M" 2>&1 | tail -n 25

h "oci-gpu-runtime wrapper (edits the bundle, then runs the runtime), crun and runc"
for rt in "$CRUN" "$RUNC"; do
  echo "-- $(basename "$rt")"; cp "$W/check/config.base.json" "$W/check/config.json"
  (cd "$W/check" && $CLEAN "$RUNTIME" --runtime "$rt" --manifest "$M" run wrap-$RANDOM < /dev/null); echo "wrapper exit $?"
done

# The CDI spec's edits for device 0 put into config.json as an engine (containerd, CRI-O, Podman) does.
cdi_apply() { # config file, device name (spec: $CDI_SPEC, default ours)
  python3 - "${CDI_SPEC:-$W/cdi.json}" "$1" "$2" <<'PY'
import json, os, sys
spec, f, dev = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
c = json.load(open(f))
c.get('annotations', {}).pop('oci-gpu/devices', None)
for e in [spec['containerEdits']] + [d['containerEdits'] for d in spec['devices'] if d['name'] == dev]:
    c['process']['env'] += e.get('env', [])
    for n in e.get('deviceNodes', []):
        if 'major' not in n or 'minor' not in n:  # CDI lets a spec leave them out: the host node says
            st = os.stat(n.get('hostPath', n['path'])); n = {**n, 'major': os.major(st.st_rdev), 'minor': os.minor(st.st_rdev)}
        c['linux'].setdefault('devices', []).append({k: n[k] for k in ('path', 'type', 'major', 'minor', 'fileMode', 'uid', 'gid') if k in n})
        c['linux']['resources'].setdefault('devices', []).append({'allow': True, 'type': n.get('type', 'c'), 'major': n['major'], 'minor': n['minor'], 'access': 'rwm'})
    for m in e.get('mounts', []):
        c['mounts'].append({'destination': m['containerPath'], 'type': 'bind', 'source': m['hostPath'], 'options': m.get('options', ['ro', 'bind'])})
    for hk in e.get('hooks', []):
        c.setdefault('hooks', {}).setdefault(hk['hookName'], []).append({k: hk[k] for k in ('path', 'args', 'env', 'timeout') if k in hk})
json.dump(c, open(f, 'w'), indent=1)
PY
}
h "the CDI spec's edits (device 0, post-mount step = sh + awk), crun and runc"
cp "$W/check/config.base.json" "$W/check/config.json"; cdi_apply "$W/check/config.json" 0; cp "$W/check/config.json" "$W/check/config.cdi.json"
both cdi

h "what the container sees beyond the GPU: params masked, libcuda.so linkable, CUDA compat (crun and runc)"
# The host's own ld (ld.bfd) and its libraries, copied into the image: `ld -lcuda` must find libcuda.so.
LDB=$(readlink -f "$(command -v ld.bfd || command -v ld)")
mkdir -p "$W/check/rootfs/opt/ld/lib" && cp "$LDB" "$W/check/rootfs/opt/ld/ld"
for l in $(ldd "$LDB" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }'); do cp -L "$l" "$W/check/rootfs/opt/ld/lib/"; done
LIBDIR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["libraryDirs"][0])' "$M")
LINK="/opt/ld/lib/ld-linux-x86-64.so.2 --library-path /opt/ld/lib /opt/ld/ld -shared -o /tmp/t.so -L$LIBDIR -lcuda"
VIEW="grep ModifyDeviceFiles /proc/driver/nvidia/params; echo x > /proc/driver/nvidia/params 2>/dev/null || echo params-read-only; nvidia-smi -L; $LINK && echo LINK-LCUDA-OK; ldconfig -p | grep 'libcuda.so.1 ' | head -n 1; /vadd"
echo "host: $(grep ModifyDeviceFiles /proc/driver/nvidia/params)"
setargs() { jedit "$W/check/config.json" "c['process']['args']=['sh','-c',sys.argv[3]]" "$1"; }
for rt in "$CRUN" "$RUNC"; do
  echo "-- $(basename "$rt"), precreate edit"
  cp "$W/check/config.pre.json" "$W/check/config.json"; setargs "$VIEW"
  runit "$rt" "$W/check" view-$RANDOM
done
echo "-- control: the same container with the libcuda.so bind removed (must not link)"
rm -f "$W/check/rootfs$LIBDIR/libcuda.so"   # the empty mount point the runtime left in this reused rootfs
cp "$W/check/config.pre.json" "$W/check/config.json"; setargs "$LINK 2>&1 | tail -n 1"
jedit "$W/check/config.json" "c['mounts']=[m for m in c['mounts'] if not m['destination'].endswith('/libcuda.so')]"
runit "$CRUN" "$W/check" nolink-$RANDOM
echo "-- CUDA compat: an image whose /usr/local/cuda/compat holds an older libcuda (535): the host's stays first, CUDA runs"
mkdir -p "$W/check/rootfs/usr/local/cuda-12.2/compat" "$W/check/rootfs/etc/alternatives"
ln -sfn /etc/alternatives/cuda "$W/check/rootfs/usr/local/cuda"; ln -sfn /usr/local/cuda-12.2 "$W/check/rootfs/etc/alternatives/cuda"
echo 'int compat_stub(void) { return 0; }' > "$W/stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$W/check/rootfs/usr/local/cuda-12.2/compat/libcuda.so.535.183.01" "$W/stub.c"
for rt in "$CRUN" "$RUNC"; do
  echo "-- $(basename "$rt")"; cp "$W/check/config.pre.json" "$W/check/config.json"; setargs "ldconfig -p | grep 'libcuda.so.1 '; /vadd"
  runit "$rt" "$W/check" compat-old-$RANDOM
done
echo "-- and a newer one (a stand-in named 999.1.1): the compat folder comes first in the ld cache (no CUDA run: not a real libcuda)"
mv "$W/check/rootfs/usr/local/cuda-12.2/compat/libcuda.so.535.183.01" "$W/check/rootfs/usr/local/cuda-12.2/compat/libcuda.so.999.1.1"
cp "$W/check/config.pre.json" "$W/check/config.json"; setargs "ldconfig -p | grep 'libcuda.so.1 '"
runit "$CRUN" "$W/check" compat-new-$RANDOM
rm -rf "$W/check/rootfs/usr/local/cuda-12.2" "$W/check/rootfs/usr/local/cuda" "$W/check/rootfs/etc/alternatives/cuda"

h "legacy createRuntime hook on cgroup v2 (must refuse with one line)"
cp "$W/check/config.base.json" "$W/check/config.json"
jedit "$W/check/config.json" "c['hooks']={'createRuntime':[{'path':'$HOOK','args':['oci-gpu-hook','createRuntime','--manifest','$M'],'env':['PATH=/usr/sbin:/usr/bin:/sbin:/bin']}]}"
runit "$RUNC" "$W/check" legacy-$RANDOM; echo "runc exit $?"

h "start cost: /bin/true run + delete, $ROUNDS shuffled rounds, crun and runc"
# From here on every child gets exactly PATH and LD_LIBRARY_PATH (the variables stay set in this
# shell, unexported), so the hook and the wrapper run as Podman and Docker run them: straight from
# the caller with a clean environment, without an `env -i` process in front (one more exec, which
# the timings before 2026-12-07 16:30 included in the hook and wrapper rows).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
for v in $(compgen -e); do case $v in PATH | LD_LIBRARY_PATH) ;; *) export -n "$v" ;; esac; done
echo "environment of what runs below: $(env | cut -d= -f1 | sort | tr '\n' ' ')"
B=$W/true
$CLEAN "$HOOK" precreate --manifest "$M" < "$B/config.base.json" > "$B/config.edits.json"
cp "$B/config.base.json" "$B/config.cdi.json"; cdi_apply "$B/config.cdi.json" 0
cp "$B/config.base.json" "$B/config.annotated.json"
jedit "$B/config.base.json" "del c['annotations']['oci-gpu/devices']"   # the no-GPU variant asks for nothing
echo "runtime,variant,us" > "$OUT/start-cost.csv"
go() { (cd "$B" && $1 run t$i < /dev/null && $1 delete -f t$i 2>/dev/null); }
row() { echo "$(basename "$1"),$2,$(us $3)" >> "$OUT/start-cost.csv"; }
v_nogpu() { cp "$B/config.base.json" "$B/config.json"; t=$(date +%s%N); go "$1"; row "$1" no-gpu $t; }
v_edits() { cp "$B/config.edits.json" "$B/config.json"; t=$(date +%s%N); go "$1"; row "$1" edits-in-config $t; }
v_cdi() { cp "$B/config.cdi.json" "$B/config.json"; t=$(date +%s%N); go "$1"; row "$1" cdi-spec-edits $t; }
v_hook() { t=$(date +%s%N); "$HOOK" precreate --manifest "$M" < "$B/config.annotated.json" > "$B/config.json" && go "$1"; row "$1" precreate-hook+run $t; }
v_wrap() { cp "$B/config.annotated.json" "$B/config.json"; t=$(date +%s%N); (cd "$B" && "$RUNTIME" --runtime "$1" --manifest "$M" run t$i < /dev/null && $1 delete -f t$i 2>/dev/null); row "$1" oci-gpu-runtime $t; }
STEPS="nogpu edits cdi hook wrap"
# NVIDIA's toolkit, when this host has it: its CDI spec (nvidia-ctk) and its legacy hook, in the same loop.
if command -v nvidia-ctk >/dev/null && nvidia-ctk cdi generate --format json --output "$W/nvidia-cdi.json" >/dev/null 2>&1; then
  cp "$B/config.base.json" "$B/config.nvcdi.json"; CDI_SPEC=$W/nvidia-cdi.json cdi_apply "$B/config.nvcdi.json" 0; STEPS="$STEPS nvcdi"
fi
NVHOOK=$(command -v nvidia-container-runtime-hook || true)
if [ -n "$NVHOOK" ]; then
  cp "$B/config.base.json" "$B/config.nvlegacy.json"
  jedit "$B/config.nvlegacy.json" "c['process']['env'].append('NVIDIA_VISIBLE_DEVICES=0');c['hooks']={'prestart':[{'path':'$NVHOOK','args':['nvidia-container-runtime-hook','prestart'],'env':['PATH=/usr/sbin:/usr/bin:/sbin:/bin']}]}"
  STEPS="$STEPS nvlegacy"
fi
v_nvcdi() { cp "$B/config.nvcdi.json" "$B/config.json"; t=$(date +%s%N); go "$1"; row "$1" nvidia-cdi $t; }
v_nvlegacy() { cp "$B/config.nvlegacy.json" "$B/config.json"; t=$(date +%s%N); go "$1"; row "$1" nvidia-legacy-hook $t; }
echo "variants: $STEPS"
for i in $(seq 1 "$ROUNDS"); do
  for step in $(for s in $STEPS; do echo "$s:$CRUN"; echo "$s:$RUNC"; done | shuf); do
    "v_${step%%:*}" "${step#*:}"
  done
done
echo "rows: $(wc -l < "$OUT/start-cost.csv")"

h "process times (the clean environment above, no env process in front, 40 interleaved runs)"
echo "what,us" > "$OUT/process-time.csv"
printf '{"ociVersion":"1.0.2","pid":1,"bundle":"%s"}' "$B" > "$W/state.json"
for i in $(seq 1 40); do
  t=$(date +%s%N); /bin/true; echo "/bin/true,$(us $t)" >> "$OUT/process-time.csv"
  t=$(date +%s%N); env -i PATH="$PATH" /bin/true; echo "env -i PATH=… /bin/true (the env process earlier rows had in front),$(us $t)" >> "$OUT/process-time.csv"
  t=$(date +%s%N); "$HOOK" precreate --manifest "$M" < "$B/config.annotated.json" > /dev/null; echo "hook precreate (GPU asked),$(us $t)" >> "$OUT/process-time.csv"
  t=$(date +%s%N); "$HOOK" precreate --manifest "$M" < "$B/config.base.json" > /dev/null; echo "hook precreate (nothing asked),$(us $t)" >> "$OUT/process-time.csv"
  t=$(date +%s%N); "$RUNC" --version > /dev/null; echo "runc --version,$(us $t)" >> "$OUT/process-time.csv"
  t=$(date +%s%N); "$RUNTIME" --runtime "$RUNC" --version > /dev/null; echo "oci-gpu-runtime passthrough (runc --version),$(us $t)" >> "$OUT/process-time.csv"
done
/usr/bin/time -f "peak RSS of the hook (precreate, GPU asked): %M KB" "$HOOK" precreate --manifest "$M" < "$B/config.annotated.json" > /dev/null

h "the watcher on / (no udevadm, no systemd): first manifest, a node change it sees, idle memory"
mkdir -p "$W/w"
HAD_CHAR=no; [ -e "$R/dev/char" ] && HAD_CHAR=yes
$CLEAN "$BIN" watch --root "$R" --manifest "$W/w/manifest.json" --cdi "$W/w/cdi.json" --log-level debug > "$W/w/watch.log" 2>&1 &
WPID=$!
for i in $(seq 1 100); do [ -s "$W/w/manifest.json" ] && break; sleep 0.1; done
grep -c '"uuid"' "$W/w/manifest.json"
t=$(date +%s%N); mknod -m 400 "$R/dev/nvidia-caps/nvidia-cap99" c 241 99
for i in $(seq 1 100); do grep -q nvidia-cap99 "$W/w/manifest.json" && break; sleep 0.02; done
echo "fake cap node added -> manifest updated after $(( $(us $t) / 1000 )) ms"
rm -f "$R/dev/nvidia-caps/nvidia-cap99"
sleep 20
grep -E '^(VmRSS|VmHWM)' /proc/$WPID/status
kill "$WPID"; wait "$WPID" 2>/dev/null; echo "watcher stopped: exit $?"
[ "$HAD_CHAR" = no ] && rm -rf "$R/dev/char"   # made by the watcher; the host (or the rehearsal's fixture) had none
grep -v '^debug: event' "$W/w/watch.log" | head -n 12
h done
