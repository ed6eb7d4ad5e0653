#!/usr/bin/env python3
"""Generates a synthetic OCI image layout of about --size-mb megabytes for benchmarks.

    bench/make-layout.py OUT [--size-mb 1024] [--images 4] [--seed 1]

Each image has a config and a mix of layers: a few large ones and many small ones, as real
images have. Layer bytes are pseudo-random (incompressible, like compressed layers), so the
work is the same as verifying real gzip layers: read and hash every byte.
"""
import argparse, hashlib, json, os, random

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    blobs = os.path.join(a.out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, d), "wb") as f:
            f.write(data)
        return "sha256:" + d

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
                           "digest": put(data), "size": s})
            diff_ids.append("sha256:" + hashlib.sha256(data[:1024]).hexdigest())
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}},
                            separators=(",", ":")).encode()
        manifest = json.dumps({"schemaVersion": 2,
                               "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": put(config), "size": len(config)},
                               "layers": layers}, separators=(",", ":")).encode()
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": put(manifest), "size": len(manifest),
                          "annotations": {"org.opencontainers.image.ref.name": "img%d" % i}})
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": manifests}, f)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')

if __name__ == "__main__":
    main()
