#!/usr/bin/env python3
"""Generates a synthetic OCI image layout of about --size-mb megabytes for benchmarks.

    bench/make-layout.py OUT [--size-mb 1024] [--images 4] [--seed 1]
    bench/make-layout.py OUT --rootfs [--size-mb 450] [--files 50000] [--layers 4]
                             [--base LAYOUT[:TAG]] [--tag big] [--seed 1]

Blob mode (the default): each image has a config and a mix of layers: a few large ones and many
small ones, as real images have. Layer bytes are pseudo-random (incompressible, like compressed
layers), so the work is the same as verifying real gzip layers: read and hash every byte.

Rootfs mode (--rootfs): one image whose layers are real gzip tar layers holding --files regular
files (in directories of about 100) of pseudo-random content, about --size-mb megabytes (10^6
bytes) of layers in all: half the bytes in many small files (64 B .. 32 KiB), half in a few
large ones (12 MiB on average), as real root filesystems have. The files are spread over
--layers layers in order, on top of the layers of --base (an image made by
scripts/make-base-image, so that RUN steps have a shell). The content is random, so it cannot
be compressed: the gzip streams use stored blocks and the layout's size is what travels. The
image is tagged --tag (its ref name, as `skopeo oci:DIR:TAG` and `umoci --image DIR:TAG` look
it up). Reproducible for a given seed and base. Prints the manifest digest, the layers' total
size in bytes and their number of tar entries.
"""
import argparse, hashlib, io, json, math, os, random, tarfile, zlib

MTIME = 1700000000


def blob_dir(out):
    d = os.path.join(out, "blobs", "sha256")
    os.makedirs(d, exist_ok=True)
    return d


def put(out, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blob_dir(out), d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def write_layout(out, manifests):
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": manifests}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


def blobs_mode(a):
    rng = random.Random(a.seed)
    budget = a.size_mb << 20
    per_image = budget // a.images
    manifests = []
    for i in range(a.images):
        sizes = [per_image * 6 // 10, per_image * 2 // 10]
        rest = per_image - sum(sizes)
        while rest > 0:  # small layers: 64 KiB .. 4 MiB
            s = min(rest, rng.randint(64 << 10, 4 << 20))
            sizes.append(s)
            rest -= s
        layers, diff_ids = [], []
        for s in sizes:
            data = rng.randbytes(s)
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                           "digest": put(a.out, data), "size": s})
            diff_ids.append("sha256:" + hashlib.sha256(data[:1024]).hexdigest())
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                            separators=(",", ":")).encode()
        manifest = json.dumps({"schemaVersion": 2,
                               "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": put(a.out, config), "size": len(config)},
                               "layers": layers}, separators=(",", ":")).encode()
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": put(a.out, manifest), "size": len(manifest),
                          "annotations": {"org.opencontainers.image.ref.name": "img%d" % i}})
    write_layout(a.out, manifests)


class LayerWriter:
    """A file-like sink for tarfile: gzips (stored blocks) into a temporary blob and hashes both
    the tar stream (the diff ID) and the gzip stream (the blob digest)."""

    def __init__(self, out):
        self.dir = blob_dir(out)
        self.tmp = os.path.join(self.dir, ".layer.tmp")
        self.f = open(self.tmp, "wb")
        self.z = zlib.compressobj(0, zlib.DEFLATED, 31)
        self.raw = hashlib.sha256()
        self.comp = hashlib.sha256()
        self.size = 0

    def _emit(self, b):
        if b:
            self.comp.update(b)
            self.f.write(b)
            self.size += len(b)

    def write(self, b):
        self.raw.update(b)
        self._emit(self.z.compress(b))
        return len(b)

    def finish(self):
        self._emit(self.z.flush())
        self.f.close()
        digest = self.comp.hexdigest()
        os.replace(self.tmp, os.path.join(self.dir, digest))
        return ({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                 "digest": "sha256:" + digest, "size": self.size},
                "sha256:" + self.raw.hexdigest())


class RandomReader:
    """The content of one file: `size` pseudo-random bytes, produced as tarfile reads them."""

    def __init__(self, rng, size):
        self.rng, self.left = rng, size

    def read(self, n=-1):
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return self.rng.randbytes(n)


def read_base(spec):
    """The manifest and config of the image SPEC (LAYOUT or LAYOUT:TAG) names, and its dir."""
    path, tag = spec, None
    if not os.path.isfile(os.path.join(path, "index.json")) and ":" in spec:
        path, tag = spec.rsplit(":", 1)
    with open(os.path.join(path, "index.json")) as f:
        entries = json.load(f)["manifests"]
    if tag is not None:
        entries = [e for e in entries if tag in (e.get("annotations") or {}).values()
                   or (e.get("annotations") or {}).get("io.containerd.image.name", "").endswith(":" + tag)]
    if not entries:
        raise SystemExit("make-layout: no image %s" % spec)

    def load(d):
        with open(os.path.join(path, "blobs", "sha256", d.split(":", 1)[1]), "rb") as f:
            return f.read()
    manifest = json.loads(load(entries[0]["digest"]))
    config = json.loads(load(manifest["config"]["digest"]))
    return path, manifest, config, load


def rootfs_mode(a):
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    layers, diff_ids, history = [], [], []
    entries = 0
    config = {"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                         "Cmd": ["sh"]}}
    if a.base:
        path, manifest, config, load = read_base(a.base)
        for layer in manifest["layers"]:
            data = load(layer["digest"])
            put(a.out, data)
            layers.append(layer)
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
                entries += len(t.getmembers())
        diff_ids = list(config["rootfs"]["diff_ids"])
        history = list(config.get("history", []))

    # File sizes: half the budget in small files (log-uniform 64 B .. 32 KiB, scaled down if
    # there are many), the rest in large files (12 MiB on average) that fill it exactly.
    budget = max(a.files, a.size_mb * 1000 * 1000 - a.files * 768)  # less tar headers, padding
    big_count = max(1, min(a.files // 2, round(budget / 2 / (12 << 20))))
    small = [int(math.exp(rng.uniform(math.log(64), math.log(32 << 10))))
             for _ in range(max(0, a.files - big_count))]
    if sum(small) > budget // 2:  # many files: make the small ones smaller, keep the count
        scale = (budget // 2) / sum(small)
        small = [max(1, int(s * scale)) for s in small]
    rest = budget - sum(small)
    weights = [rng.uniform(1, 32) for _ in range(big_count)]
    big = [int(rest * w / sum(weights)) for w in weights]
    files = [("small", s) for s in small] + [("big", s) for s in big]
    rng.shuffle(files)

    per_layer = math.ceil(len(files) / a.layers)
    for li in range(a.layers):
        chunk = files[li * per_layer:(li + 1) * per_layer]
        w = LayerWriter(a.out)
        with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as t:
            def add_dir(name):
                ti = tarfile.TarInfo(name)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
                t.addfile(ti)
                nonlocal entries
                entries += 1
            add_dir("data")
            add_dir("data/l%d" % li)
            for i, (kind, size) in enumerate(chunk):
                if i % 100 == 0:
                    d = "data/l%d/d%04d" % (li, i // 100)
                    add_dir(d)
                ti = tarfile.TarInfo("%s/%s%06d" % (d, kind, i))
                ti.size, ti.mode, ti.mtime = size, 0o644, MTIME
                t.addfile(ti, RandomReader(rng, size))
                entries += 1
        desc, diff_id = w.finish()
        layers.append(desc)
        diff_ids.append(diff_id)
        history.append({"created": "2023-11-14T22:13:20Z",
                        "created_by": "make-layout.py layer %d of %d" % (li + 1, a.layers)})

    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    config["history"] = history
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    manifest_bytes = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put(a.out, config_bytes), "size": len(config_bytes)},
        "layers": layers}, separators=(",", ":")).encode()
    manifest_digest = put(a.out, manifest_bytes)
    write_layout(a.out, [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": manifest_digest, "size": len(manifest_bytes),
                          "annotations": {"org.opencontainers.image.ref.name": a.tag}}])
    print(manifest_digest, sum(l["size"] for l in layers), entries)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rootfs", action="store_true")
    ap.add_argument("--files", type=int, default=50000)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--base")
    ap.add_argument("--tag", default="latest")
    a = ap.parse_args()
    if a.rootfs:
        rootfs_mode(a)
    else:
        blobs_mode(a)


if __name__ == "__main__":
    main()
