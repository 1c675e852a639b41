#!/usr/bin/env node
// Builds the deliveries tree of one epoch with @openzeppelin/merkle-tree (the reference
// implementation of the StandardMerkleTree convention) and writes leaves, root and proofs as
// JSON for the forge differential test (test/fixtures/deliveries-tree.json) and vectors for the
// Rust implementation (test/fixtures/merkle-vectors.json).
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const epoch = 1n;
// (leaseId, epoch, delivered unit-seconds, metered Wh) for leases 1..7 of an 8-GPU, 1-hour-epoch
// cluster.
const LEAF_TYPES = ['uint256', 'uint64', 'uint64', 'uint64'];
const delivered = [[28800n, 5600n], [0n, 0n], [14400n, 2800n], [28799n, 5599n], [1n, 0n], [27000n, 14900n], [123n, 1n]];
const values = delivered.map(([d, wh], i) => [BigInt(i + 1), epoch, d, wh]);
const tree = StandardMerkleTree.of(values, LEAF_TYPES);

const leaves = [];
for (const [index, [leaseId, e, d, wh]] of tree.entries()) {
  leaves.push({
    leaseId: leaseId.toString(), epoch: e.toString(), delivered: d.toString(), energyWh: wh.toString(),
    proof: tree.getProof(index),
  });
}
leaves.sort((a, b) => Number(a.leaseId) - Number(b.leaseId));

const out = fileURLToPath(new URL('../test/fixtures/deliveries-tree.json', import.meta.url));
writeFileSync(out, JSON.stringify({ root: tree.root, leaves }, null, 2) + '\n');
console.log(`deliveries tree: ${leaves.length} leaves, root ${tree.root}`);

// Vectors for the Rust tree (types/src/merkle.rs): several sizes, pseudo-random but fixed
// lease ids, epochs and deliveries; proofs listed in the order the leaves are given.
let state = 0x2545f4914f6cdd1dn;
const next = () => {
  state ^= (state << 13n) & 0xffffffffffffffffn;
  state ^= state >> 7n;
  state ^= (state << 17n) & 0xffffffffffffffffn;
  return state;
};
const vectors = [1, 2, 3, 4, 5, 7, 8, 13, 100].map((n) => {
  const epoch = next() % 100000n;
  const values = Array.from({ length: n }, (_, i) => [
    BigInt(i) * 1000003n + (next() % 1000n) + 1n, epoch, next() % 2000000n, next() % 500000n,
  ]);
  const t = StandardMerkleTree.of(values, LEAF_TYPES);
  return {
    root: t.root,
    leaves: values.map(([leaseId, e, d, wh], i) => ({
      leaseId: leaseId.toString(), epoch: e.toString(), delivered: d.toString(), energyWh: wh.toString(),
      proof: t.getProof(i),
    })),
  };
});
const vectorsOut = fileURLToPath(new URL('../test/fixtures/merkle-vectors.json', import.meta.url));
writeFileSync(vectorsOut, JSON.stringify(vectors, null, 1) + '\n');
console.log(`merkle vectors: ${vectors.length} trees for the Rust implementation`);
