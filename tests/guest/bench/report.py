#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Report of "make bench": reads the guest's BENCH lines on stdin (see
tests/guest/bench/bench.sh), writes OUTDIR/results.txt (the table printed
on stdout too), OUTDIR/results.json and, when gnuplot is installed,
OUTDIR/bench.png.  Usage: report.py OUTDIR <raw.txt"""

import json
import os
import shutil
import subprocess
import sys

JOBS = ["rr1", "rr16", "sr", "rw1", "rw16", "sw", "fsync"]
JOB_TEXT = {
    "rr1": "4k randread QD1", "rr16": "4k randread QD16",
    "sr": "1M seq read QD4", "rw1": "4k randwrite QD1",
    "rw16": "4k randwrite QD16", "sw": "1M seq write QD4",
    "fsync": "4k randwrite QD1 fsync=1",
}
SEQ = {"sr", "sw"}
READ = {"rr1", "rr16", "sr"}
# Sections of the table: (name, phase, jobs filter, loop's files).
SECTIONS = [
    ("unmodified reads", "unmod", READ, "loop over the rdofile"),
    ("first writes", "first", set(JOBS) - READ, "loop over a fresh sparse file"),
    ("modified reads", "mod", READ, "loop over a written copy"),
    ("rewrites", "mod", set(JOBS) - READ, "loop over a written copy"),
]
OTHERS = ["dm-snapshot", "qcow2"]
TARGETS = {"unmodified reads": 0.95, "modified reads": 0.95,
           "rewrites": 0.9, "first writes": 0.8}
WA_MAX = 1.01
SCALING_MIN = 0.9
BITMAP_MIB_PER_TIB = 128


def value(job, iops, kibs):
    """IOPS for 4 KiB jobs, MB/s for sequential ones."""
    return kibs * 1024 / 1e6 if job in SEQ else float(iops)


def unit(job):
    return "MB/s" if job in SEQ else "IOPS"


fio_ios = {}


def parse(lines):
    info, runs, wa, mem, slab, disk = {}, {}, [], [], [], {}
    devmem = {}
    for line in lines:
        f = line.split()
        if len(f) < 2 or f[0] != "BENCH":
            continue
        kind, a = f[1], f[2:]
        if kind == "info":
            info[a[0]] = " ".join(a[1:])
        elif kind == "fio" and len(a) == 7:
            rnd, phase, who, job = int(a[0]), a[1], a[2], a[3]
            v = value(job, int(a[4]), int(a[5]))
            runs.setdefault((phase, who, job), []).append((rnd, v))
            fio_ios.setdefault((phase, who, job), []).append(
                int(a[6]) // (1024 if job in SEQ else 4))
        elif kind == "disk" and len(a) == 5:
            disk.setdefault((a[1], a[2], a[3]), []).append(int(a[4]))
        elif kind == "wa" and len(a) == 6:
            written, alloc, fresh = int(a[2]), int(a[3]), int(a[4])
            wa.append({"round": int(a[0]), "job": a[1], "who": a[5],
                       "written": written,
                       "allocated": alloc - fresh, "fresh_cowfile": fresh,
                       "ratio": (alloc - fresh) / written if written else None})
        elif kind == "mem" and len(a) == 6:
            mem.append({"round": int(a[0]), "when": a[1],
                        "slab_kib": int(a[2]), "vmalloc_kib": int(a[3]),
                        "percpu_kib": int(a[4]), "memfree_kib": int(a[5])})
        elif kind == "devmem" and len(a) == 3:
            devmem[(int(a[0]), a[1])] = int(a[2])
        elif kind == "slab" and len(a) == 7:
            slab.append({"round": int(a[0]), "when": a[1], "cache": a[2],
                         "active_objs": int(a[3]), "num_objs": int(a[4]),
                         "objsize": int(a[5]), "kib": int(a[6]) * 4})
    return info, runs, wa, (mem, devmem), slab, disk


def best(runs, phase, who, job):
    r = runs.get((phase, who, job))
    return max(v for _, v in r) if r else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, job=None):
    if v is None:
        return "-"
    if job in SEQ:
        return "%.1f" % v
    return "%.0f" % v


def fr(v):
    return "-" if v is None else "%.2fx" % v


def disk_ratio(disk, phase, who, job):
    """Disk I/Os per fio I/O over all rounds: ~1 when a job's I/O goes
    to the disk (less when merged or cached, more with metadata)."""
    d = sum(disk.get((phase, who, job), []))
    f = sum(fio_ios.get((phase, who, job), []))
    return round(d / f, 3) if f and (phase, who, job) in disk else None


def build(info, runs, wa, mem, slab, disk):
    rows, targets = [], []
    for name, phase, jobs, loopfiles in SECTIONS:
        for job in [j for j in JOBS if j in jobs]:
            vals = {who: best(runs, phase, who, job) for who in
                    ["loop-dio", "loop-buf", "cowloop"] + OTHERS}
            if all(v is None for v in vals.values()):
                continue
            if phase == "mod":
                vals = {k: v for k, v in vals.items() if k not in OTHERS}
            lv = [v for k, v in vals.items() if k.startswith("loop-") and v]
            loop = max(lv) if lv else None
            row = {"section": name, "phase": phase, "job": job,
                   "what": JOB_TEXT[job], "unit": unit(job),
                   "loop_files": loopfiles, "best": vals, "loop": loop,
                   "ratio_to_loop": {k: ratio(v, loop) for k, v in vals.items()
                                     if not k.startswith("loop-")},
                   "rounds": {k: [v for _, v in sorted(runs.get((phase, k, job), []))]
                              for k in vals},
                   "disk_ios_per_fio_io": {k: disk_ratio(disk, phase, k, job)
                                           for k in vals}}
            rows.append(row)
            cow = vals.get("cowloop")
            targets.append(target("%s, %s: cowloop / loop" % (name, JOB_TEXT[job]),
                                  ratio(cow, loop), TARGETS[name]))
            if phase == "first":
                targets.append(target("first writes, %s: cowloop / dm-snapshot"
                                      % JOB_TEXT[job],
                                      ratio(cow, vals.get("dm-snapshot")), 2.0))
                targets.append(target("first writes, %s: cowloop / qemu-nbd+qcow2"
                                      % JOB_TEXT[job],
                                      ratio(cow, vals.get("qcow2")), 3.0))
    # QD16/QD1 random-read scaling, relative to loop's own scaling.
    for name, phase in (("unmodified", "unmod"), ("modified", "mod")):
        r = {x["job"]: x for x in rows if x["phase"] == phase}
        if "rr1" in r and "rr16" in r:
            cs = ratio(r["rr16"]["best"].get("cowloop"), r["rr1"]["best"].get("cowloop"))
            ls = ratio(r["rr16"]["loop"], r["rr1"]["loop"])
            targets.append(target("QD16/QD1 random-read scaling, %s data: "
                                  "cowloop's / loop's (%s / %s)"
                                  % (name, fr(cs), fr(ls)), ratio(cs, ls),
                                  SCALING_MIN))
    def worst(job, who):
        return max((w["ratio"] for w in wa if w["job"] == job
                    and who(w["who"]) and w["ratio"] is not None),
                   default=None)
    for job in sorted({w["job"] for w in wa}, key=lambda j: (j != "fill", j)):
        loop = worst(job, lambda c: c.startswith("loop"))
        targets.append(target("write amplification, first writes %s "
                              "(cowfile bytes allocated / bytes written%s)"
                              % ("of the whole device, 1M sequential"
                                 if job == "fill" else JOB_TEXT.get(job, job),
                                 "" if loop is None else
                                 "; loop's sparse file: %.3f" % loop),
                              worst(job, lambda c: c == "cowloop"), WA_MAX,
                              le=True))
    memory = memory_report(info, mem, slab)
    if memory.get("bitmap_limit_kib"):
        targets.append(target("kernel memory for %s MiB modified (KiB): "
                              "growth of the device's memory from activation "
                              "to all modified; <= 128 MiB per TiB modified "
                              "+ one 4 KiB page"
                              % info.get("size_mib"),
                              memory["max_growth_kib"],
                              memory["bitmap_limit_kib"], le=True, num=True))
    return rows, targets, memory


def target(name, v, limit, le=False, num=False):
    met = None if v is None else (v <= limit if le else v >= limit)
    return {"target": name, "measured": v, "limit": limit,
            "op": "<=" if le else ">=", "met": met, "plain": num}


def memory_report(info, mem, slab):
    """The device's memory as it reports it (sysfs memory: bitmap pages
    and buffers, exact); the cow_* slab caches and /proc/meminfo deltas
    are context (slabs keep freed pages; the page cache moves MemFree by
    megabytes)."""
    mem, devmem = mem
    out = {"snapshots": mem, "slabinfo": slab, "deltas": [], "device": []}
    by = {(m["round"], m["when"]): m for m in mem}
    growth = []
    for rnd in sorted({m["round"] for m in mem}):
        base = by.get((rnd, "before"))
        if not base:
            continue
        for when in ("active", "modified", "used", "deactivated"):
            m = by.get((rnd, when))
            if not m:
                continue
            out["deltas"].append({
                "round": rnd, "when": when,
                "slab_kib": m["slab_kib"] - base["slab_kib"],
                "vmalloc_kib": m["vmalloc_kib"] - base["vmalloc_kib"],
                "percpu_kib": m["percpu_kib"] - base["percpu_kib"],
                "memfree_drop_kib": base["memfree_kib"] - m["memfree_kib"]})
        d = {w: devmem.get((rnd, w)) for w in ("active", "modified", "used")}
        out["device"].append(dict(round=rnd, **d))
        if d["active"] is not None and d["modified"] is not None:
            growth.append((d["modified"] - d["active"]) / 1024)
    size = int(info.get("size_mib", 0) or 0)
    if growth and size:
        out["max_growth_kib"] = max(growth)
        # plus one page: pages follow the cowfile's blocks, not the
        # bitmap's start, so a span can straddle one more
        out["bitmap_limit_kib"] = (BITMAP_MIB_PER_TIB * 1024 * size /
                                   (1024 * 1024) + 4)
    return out


def table(info, rows, targets, memory, wa):
    L = []
    L.append("cowloop benchmark: kernel %s, %s MiB files, %s s jobs, %s rounds "
             "(best of rounds), guest %s MiB RAM, %s vCPUs, %s"
             % (info.get("kernel", "?"), info.get("size_mib", "?"),
                info.get("runtime_s", "?"), info.get("rounds", "?"),
                int(info.get("mem_kib", 0) or 0) // 1024, info.get("cpus", "?"),
                info.get("fs", "")))
    L.append("loop = the better of loop-dio and loop-buf for each job; "
             "ratios are to loop.  IOPS for 4k jobs, MB/s for 1M jobs.")
    hdr = "%-26s %9s %9s %9s %7s %9s %7s %9s %7s" % (
        "job", "loop-dio", "loop-buf", "cowloop", "ratio",
        "dm-snap", "ratio", "qcow2", "ratio")
    section = None
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            L.append("")
            L.append("%s (loop: %s)" % (section, r["loop_files"]))
            L.append(hdr)
        b, q = r["best"], r["ratio_to_loop"]
        L.append("%-26s %9s %9s %9s %7s %9s %7s %9s %7s" % (
            r["what"], fmt(b.get("loop-dio"), r["job"]),
            fmt(b.get("loop-buf"), r["job"]), fmt(b.get("cowloop"), r["job"]),
            fr(q.get("cowloop")), fmt(b.get("dm-snapshot"), r["job"]),
            fr(q.get("dm-snapshot")), fmt(b.get("qcow2"), r["job"]),
            fr(q.get("qcow2"))))
    L.append("")
    L.append("disk I/Os (vda) per fio I/O, all rounds (~1: the job reached "
             "the disk; far below 1: served from a cache or merged):")
    for r in rows:
        q = r["disk_ios_per_fio_io"]
        L.append("  %-16s %-26s %s" % (r["section"], r["what"], "  ".join(
            "%s %s" % (k, "-" if v is None else "%.2f" % v)
            for k, v in q.items() if v is not None)))
    L.append("")
    L.append("write amplification (bytes allocated after sync / bytes "
             "written; cowloop: less a fresh cowfile's %s; loop: its sparse "
             "file, what the file system alone adds):"
             % max((w["fresh_cowfile"] for w in wa), default="?"))
    for w in wa:
        L.append("  round %d %-6s %-8s written %12d allocated %12d  %.4f"
                 % (w["round"], w["job"], w["who"], w["written"],
                    w["allocated"], w["ratio"] or 0))
    L.append("")
    L.append("device memory (bytes, /sys/block/cowN/cowloop/memory: bitmap "
             "pages and buffers):")
    for m in memory["device"]:
        L.append("  round %d  " % m["round"] + "  ".join(
            "%s %s" % (w, "-" if m[w] is None else m[w])
            for w in ("active", "modified", "used")))
    L.append("kernel memory (KiB, from /proc/meminfo, vs. before activation; "
             "context only: the page cache moves MemFree by MiB):")
    for d in memory["deltas"]:
        L.append("  round %d %-12s Slab %+8d  VmallocUsed %+8d  Percpu %+6d  "
                 "MemFree drop %+8d" % (d["round"], d["when"], d["slab_kib"],
                                        d["vmalloc_kib"], d["percpu_kib"],
                                        d["memfree_drop_kib"]))
    for s in memory["slabinfo"]:
        if s["round"] == 1:
            L.append("  slabinfo %-12s %-10s active %6d total %6d size %5d "
                     "%6d KiB" % (s["when"], s["cache"], s["active_objs"],
                                  s["num_objs"], s["objsize"], s["kib"]))
    L.append("")
    L.append("targets (issue 6):")
    for t in targets:
        m = {None: "n/a", True: "met", False: "MISSED"}[t["met"]]
        if t["plain"]:
            v = "-" if t["measured"] is None else "%.0f" % t["measured"]
            lim = "%.0f" % t["limit"]
        else:
            v = "-" if t["measured"] is None else "%.3f" % t["measured"]
            lim = "%g" % t["limit"]
        L.append("  %-6s %8s %s %-5s %s" % (m, v, t["op"], lim, t["target"]))
    met = sum(1 for t in targets if t["met"])
    L.append("  %d of %d targets met" % (met, len(targets)))
    return "\n".join(L) + "\n"


def plot(outdir, rows, info):
    gp = shutil.which("gnuplot")
    if not gp:
        print("bench: gnuplot not installed: no chart", file=sys.stderr)
        return
    dat = os.path.join(outdir, "chart.dat")
    short = {"unmodified reads": "unmod", "first writes": "first",
             "modified reads": "mod", "rewrites": "rewrite"}
    with open(dat, "w") as f:
        f.write("# job cowloop dm-snapshot qcow2 (ratio to loop)\n")
        for r in rows:
            q = r["ratio_to_loop"]
            f.write('"%s %s" %s %s %s\n' % (
                short[r["section"]], r["job"],
                *("%.4f" % q[k] if q.get(k) is not None else "?"
                  for k in ("cowloop", "dm-snapshot", "qcow2"))))
    png = os.path.join(outdir, "bench.png")
    script = """
set terminal png size 1200,600 font ",11"
set output '%s'
set title "cowloop vs loop (=1.0), dm-snapshot, qemu-nbd+qcow2 - kernel %s, %s MiB, TCG guest"
set ylabel "throughput / loop (best of DIO, buffered), log scale"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by -35 scale 0 offset -1,0
set grid ytics
set logscale y
set yrange [0.01:*]
set datafile missing "?"
set ytics ("0.01" 0.01, "0.03" 0.03, "0.1" 0.1, "0.3" 0.3, "0.5" 0.5, "0.8" 0.8, "1" 1, "2" 2, "3" 3, "10" 10, "30" 30, "100" 100, "300" 300)
set key top right
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "black"
plot '%s' using 2:xtic(1) title "cowloop" lc rgb "#1f77b4", \\
     '' using 3 title "dm-snapshot" lc rgb "#ff7f0e", \\
     '' using 4 title "qemu-nbd+qcow2" lc rgb "#2ca02c"
""" % (png, info.get("kernel", "?"), info.get("size_mib", "?"), dat)
    r = subprocess.run([gp], input=script, text=True, capture_output=True)
    if r.returncode:
        print("bench: gnuplot failed: %s" % r.stderr.strip(), file=sys.stderr)
    else:
        print("bench: chart in %s" % png, file=sys.stderr)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    info, runs, wa, mem, slab, disk = parse(sys.stdin)
    rows, targets, memory = build(info, runs, wa, mem, slab, disk)
    text = table(info, rows, targets, memory, wa)
    sys.stdout.write(text)
    with open(os.path.join(outdir, "results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"info": info, "jobs": rows, "targets": targets,
                   "write_amplification": wa, "memory": memory}, f, indent=1)
        f.write("\n")
    plot(outdir, rows, info)


if __name__ == "__main__":
    main()
