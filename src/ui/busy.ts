import { useState } from 'react';

/**
 * Which of a panel's actions is running (`null`: none), and a runner that marks one busy until its promise
 * settles, so its button can show progress and the others wait.
 */
export function useBusy<K>(): [K | null, (key: K, action: () => Promise<unknown>) => Promise<void>] {
  const [busy, setBusy] = useState<K | null>(null);
  const run = async (key: K, action: () => Promise<unknown>) => {
    setBusy(key);
    try {
      await action();
    } finally {
      setBusy(null);
    }
  };
  return [busy, run];
}
