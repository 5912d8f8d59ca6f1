/**
 * Store slices for the panels that draw a run as it goes (the charts, the sample grids): re-rendered in a transition,
 * at most once per interval, and not at all while the panel is off screen or the tab is hidden. A run sends ten
 * updates a second, and drawing them in panels nobody can see only took main-thread time from the rest of the page.
 */
import { startTransition, useEffect, useRef, useState, type RefObject } from 'react';
import { useStudio, type StudioState } from './store';

/** Whether `ref`'s element is on screen (within `margin` of the viewport) in a visible tab. */
export function useOnScreen(ref: RefObject<Element | null>, margin = '200px'): boolean {
  const [onScreen, setOnScreen] = useState(true);
  useEffect(() => {
    const el = ref.current;
    let intersecting = true;
    const update = () => setOnScreen(intersecting && document.visibilityState !== 'hidden');
    const observer =
      el && typeof IntersectionObserver !== 'undefined'
        ? new IntersectionObserver(
            (entries) => {
              intersecting = entries[entries.length - 1].isIntersecting;
              update();
            },
            { rootMargin: margin },
          )
        : null;
    if (el) observer?.observe(el);
    document.addEventListener('visibilitychange', update);
    return () => {
      observer?.disconnect();
      document.removeEventListener('visibilitychange', update);
    };
  }, [ref, margin]);
  return onScreen;
}

const isEmpty = (v: unknown) => v === null || v === undefined || (Array.isArray(v) && v.length === 0);

/**
 * `pick(state)`, refreshed at most once per `intervalMs` (the first refresh after a quiet spell waits `phaseMs`, so
 * panels given different phases never redraw in the same task), only while `visible`; a panel that comes back into
 * view catches up at once. An emptied slice (a new run) shows at once.
 */
export function useThrottledSlice<T>(pick: (s: StudioState) => T, intervalMs: number, visible: boolean, phaseMs = 0): T {
  const [value, setValue] = useState(() => pick(useStudio.getState()));
  // The value last handed to React, kept across re-subscriptions.
  const shown = useRef(value);
  const visibleRef = useRef(visible);
  const kick = useRef<() => void>(() => {});
  useEffect(() => {
    let last = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const refresh = () => {
      timer = null;
      last = Date.now();
      const next = pick(useStudio.getState());
      if (next === shown.current) return;
      shown.current = next;
      // A transition lets React split the render into slices between other work.
      startTransition(() => setValue(next));
    };
    const schedule = () => {
      const next = pick(useStudio.getState());
      if (timer || !visibleRef.current || next === shown.current) return;
      const wait = isEmpty(next) ? 0 : Math.max(phaseMs, last + intervalMs - Date.now());
      timer = setTimeout(refresh, wait);
    };
    kick.current = schedule;
    const unsub = useStudio.subscribe((s, prev) => {
      if (pick(s) !== pick(prev)) schedule();
    });
    schedule();
    return () => {
      unsub();
      if (timer) clearTimeout(timer);
    };
  }, [pick, intervalMs, phaseMs]);
  useEffect(() => {
    visibleRef.current = visible;
    if (visible) kick.current();
  }, [visible]);
  return value;
}
