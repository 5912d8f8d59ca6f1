import type { EtaSchedule, SynthesisConfig } from './config';

/**
 * η for set m of M: the step size on the inputs (and, with Langevin on, the noise scale). It decays across sets, not
 * across steps, interpolating log10(η) from log10(η0) down `decades` (spec §2.4, `interpolate` in the reference).
 */
export function etaForSet(m: number, sets: number, eta0: number, decades: number, schedule: EtaSchedule): number {
  if (schedule === 'constant' || decades === 0) return eta0;
  const start = Math.log10(eta0);
  const t = m / sets;
  const log =
    schedule === 'linear' ? start - t * decades : start - decades + 0.5 * decades * (1 + Math.cos(Math.PI * t));
  return 10 ** log;
}

/** η of every set of a run, in set order. */
export function setEtas(s: Pick<SynthesisConfig, 'sets' | 'eta0' | 'decades' | 'etaSchedule'>): number[] {
  return Array.from({ length: s.sets }, (_, m) => etaForSet(m, s.sets, s.eta0, s.decades, s.etaSchedule));
}

/** Learning rate and momentum of one student step under PyTorch's OneCycleLR (two phases, cosine annealing). */
export interface OneCycle {
  maxLr: number;
  totalSteps: number;
  /** Share of steps spent warming up. */
  pctStart: number;
  divFactor: number;
  finalDivFactor: number;
  /** Momentum cycles inversely to the rate, from maxMomentum down to baseMomentum and back, as PyTorch does by default. */
  baseMomentum: number;
  maxMomentum: number;
}

export function oneCycle(maxLr: number, totalSteps: number, momentum: number): OneCycle {
  return {
    maxLr,
    totalSteps,
    pctStart: 0.3,
    divFactor: 25,
    finalDivFactor: 1e4,
    baseMomentum: Math.max(0, momentum - 0.05),
    maxMomentum: Math.min(0.999, momentum + 0.05),
  };
}

function cosineAnneal(start: number, end: number, pct: number): number {
  return end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
}

export function oneCycleAt(c: OneCycle, step: number): { lr: number; momentum: number } {
  const initial = c.maxLr / c.divFactor;
  const min = initial / c.finalDivFactor;
  const warmEnd = c.pctStart * c.totalSteps - 1;
  const last = c.totalSteps - 1;
  if (step <= warmEnd) {
    const pct = warmEnd <= 0 ? 1 : step / warmEnd;
    return { lr: cosineAnneal(initial, c.maxLr, pct), momentum: cosineAnneal(c.maxMomentum, c.baseMomentum, pct) };
  }
  const pct = last - warmEnd <= 0 ? 1 : Math.min(1, (step - warmEnd) / (last - warmEnd));
  return { lr: cosineAnneal(c.maxLr, min, pct), momentum: cosineAnneal(c.baseMomentum, c.maxMomentum, pct) };
}
