/**
 * The teacher panel: LeNet-5 teachers that differ the way users' teachers do (augmentation, framework, head, a
 * declared input range or none), on which every preset is measured and chosen by its worst case (issue #23).
 *
 * `npm run panel:build -- --data ../shared/data --out <dir>` trains the missing members into <dir> and writes
 * <dir>/panel.json; `npm run bench:repro -- --panel <dir> --preset quick` distils every member (scripts/bench-panel.ts).
 */

export type PanelDataset = 'mnist' | 'fashion-mnist';

export interface PanelMember {
  /** Folder name inside the panel directory. */
  name: string;
  dataset: PanelDataset;
  /** How it is trained: `cake train-teacher` (ours) or scripts/train-teacher-torch.py (as others train them). */
  maker: 'cake' | 'torch';
  /** torch only: the training augmentation. */
  aug?: 'none' | 'shift' | 'crop' | 'rotate' | 'erase';
  /** torch only: a softmax head (the teacher outputs probabilities) or logits. */
  head?: 'logits' | 'softmax';
  /** Whether a metadata.json declares the input range (cake teachers always have one). */
  metadata: boolean;
  seed: number;
}

/** Four teachers per data set; each row differs from the others in how real teachers differ. */
export const PANEL: readonly PanelMember[] = [
  { name: 'mnist-cake', dataset: 'mnist', maker: 'cake', metadata: true, seed: 0 },
  { name: 'mnist-torch-shift-logits', dataset: 'mnist', maker: 'torch', aug: 'shift', head: 'logits', metadata: false, seed: 1 },
  { name: 'mnist-torch-crop-softmax', dataset: 'mnist', maker: 'torch', aug: 'crop', head: 'softmax', metadata: false, seed: 1 },
  { name: 'mnist-torch-rotate-logits-range', dataset: 'mnist', maker: 'torch', aug: 'rotate', head: 'logits', metadata: true, seed: 1 },
  { name: 'fashion-cake', dataset: 'fashion-mnist', maker: 'cake', metadata: true, seed: 0 },
  { name: 'fashion-torch-shift-softmax', dataset: 'fashion-mnist', maker: 'torch', aug: 'shift', head: 'softmax', metadata: false, seed: 1 },
  { name: 'fashion-torch-erase-logits', dataset: 'fashion-mnist', maker: 'torch', aug: 'erase', head: 'logits', metadata: false, seed: 1 },
  { name: 'fashion-torch-crop-logits-range', dataset: 'fashion-mnist', maker: 'torch', aug: 'crop', head: 'logits', metadata: true, seed: 1 },
];

/** What the panel directory's panel.json holds: the members that exist, with their teachers' test accuracy. */
export interface PanelFile {
  members: (PanelMember & { teacher: string; testAccuracy?: number })[];
}
