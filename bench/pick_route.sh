#!/usr/bin/env bash
# The whole pick route as a user runs it, timed command by command (issue 23: teacher + student + export
# + dry run within 90 min on the 2 cores). Run it alone on the machine: the minutes are the claim.
#
#   MUJOCO_GL=egl bash bench/pick_route.sh OUT SEED [extra distill overrides...]
#
# TEACHER_SET="train.total_env_steps=4000 ..." adds teacher overrides and DRY_EPISODES=2 shortens the
# dry run (a smoke test of the script; the timed route sets neither). Writes OUT/route.md (each
# command, its wall minutes, and the total) as it goes, so a stopped route keeps the times of the
# steps it finished. The teacher is configs/teacher_pick.yaml as shipped, the student
# configs/student_pick.yaml from the teacher's best snapshot, and the dry run is the goal's: 50
# episodes at the arm's rate and latency (deploy's defaults, 15 Hz / 99.5 ms), camera noise 4, gain
# 0.2, in the deploy loop.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: bash bench/pick_route.sh OUT SEED [distill overrides...]" >&2
  exit 2
fi
command -v liftrl > /dev/null || { echo "liftrl is not on PATH: activate the venv (README)" >&2; exit 2; }
OUT=$1; SEED=$2; shift 2
read -ra TEACHER_OVERRIDES <<< "${TEACHER_SET:-}"  # split on spaces, never globbed
mkdir -p "$OUT"
REPORT="$OUT/route.md"
START=$(date +%s)
printf '# Pick route, seed %s (%s, %s cores)\n\n| step | command | wall min |\n| --- | --- | --- |\n' \
  "$SEED" "$(date -u +%Y-%m-%d)" "$(nproc)" > "$REPORT"

minutes_since() { awk -v t0="$1" -v t1="$(date +%s)" 'BEGIN { printf "%.1f", (t1 - t0) / 60 }'; }

step() {  # step NAME COMMAND...: run it, log its output, append its wall minutes to the report
  local name=$1; shift
  local t0; t0=$(date +%s)
  "$@" > "$OUT/$name.log" 2>&1 || { echo "$name failed: see $OUT/$name.log" >&2; exit 1; }
  printf '| %s | `%s` | %s |\n' "$name" "$*" "$(minutes_since "$t0")" >> "$REPORT"
}

only_run() {  # the one run folder under $1 (a fresh run_dir per route)
  local found; found=$(find "$1" -mindepth 2 -maxdepth 2 -type d | head -n 2)
  [[ $(echo "$found" | wc -l) -eq 1 && -n "$found" ]] || { echo "expected one run under $1, found: $found" >&2; exit 1; }
  echo "$found"
}

step teacher liftrl train configs/teacher_pick.yaml "train.seed=$SEED" "train.run_dir=$OUT/teacher" train.progress=false \
  "${TEACHER_OVERRIDES[@]}"
TEACHER=$(only_run "$OUT/teacher")
step student liftrl distill "$TEACHER" configs/student_pick.yaml "train.seed=$SEED" \
  "train.run_dir=$OUT/student" train.progress=false "$@"
STUDENT=$(only_run "$OUT/student")
step export liftrl export "$STUDENT" --out "$OUT/bundle"
step dry_run liftrl deploy "$OUT/bundle" --robot sim --episodes "${DRY_EPISODES:-50}" --camera-noise 4 --camera-gain 0.2 --verbose
printf '| total | | %s |\n\n' "$(minutes_since "$START")" >> "$REPORT"
tail -n 5 "$OUT/dry_run.log" >> "$REPORT"
cat "$REPORT"
