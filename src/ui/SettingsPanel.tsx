import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { PRESET_NAMES, type PresetName } from '../worker/protocol';
import { estimatedSeconds, exportSettings, updateSettings } from './actions';
import { formatDuration, formatNum } from './format';
import {
  configValue,
  FIELD_GROUPS,
  fieldFor,
  resolveSettings,
  settingsFromJson,
  settingsToHash,
  withField,
  withPreset,
  type FieldDef,
} from './settings';
import { isRunActive, raise, traitsOf, useStudio } from './store';

const PRESET_HINTS: Record<PresetName, string> = {
  smoke: 'seconds; for checking that everything works',
  // The panel's numbers (BENCHMARKS.md, "Where we stand"): eight LeNet-5 teachers trained as others train them.
  quick: 'about 5 minutes on 2 cores; students of 95–99 % on MNIST, 75–85 % on Fashion-MNIST teachers (our test panel); colour teachers: near chance so far',
  standard: 'about 10 minutes for a LeNet-5 teacher; sized to about 25 for a colour one (not yet measured to the end)',
  paper: 'the published settings; hours',
};

interface FieldProps {
  def: FieldDef;
  value: string;
  error?: string;
  overridden: boolean;
  disabled: boolean;
  options?: readonly string[];
  onChange: (raw: string) => void;
}

function Field({ def, value, error, overridden, disabled, options, onChange }: FieldProps) {
  const id = `field-${def.key.replace(/\./g, '-')}`;
  const describedBy = error ? `${id}-error` : def.hint ? `${id}-hint` : undefined;
  const cls = `field ${error ? 'invalid' : ''} ${overridden ? 'changed' : ''}`;
  if (def.kind === 'bool') {
    return (
      <div className={`${cls} checkbox`}>
        <input
          id={id}
          type="checkbox"
          checked={value === 'true'}
          disabled={disabled}
          aria-describedby={describedBy}
          onChange={(e) => onChange(String(e.target.checked))}
        />
        <label htmlFor={id}>{def.label}</label>
        {def.hint && !error && (
          <p id={`${id}-hint`} className="hint">
            {def.hint}
          </p>
        )}
      </div>
    );
  }
  const opts = options ?? def.options;
  return (
    <div className={cls}>
      <label htmlFor={id}>{def.label}</label>
      {opts ? (
        <select id={id} value={value} disabled={disabled} aria-describedby={describedBy} onChange={(e) => onChange(e.target.value)}>
          {!opts.includes(value) && <option value={value}>{value}</option>}
          {opts.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      ) : (
        <input
          id={id}
          type="text"
          inputMode={def.kind === 'range' ? 'text' : 'decimal'}
          spellCheck={false}
          autoComplete="off"
          value={value}
          disabled={disabled}
          aria-invalid={Boolean(error)}
          aria-describedby={describedBy}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
      {error ? (
        <p id={`${id}-error`} className="field-error" role="alert">
          {error}
        </p>
      ) : def.hint ? (
        <p id={`${id}-hint`} className="hint">
          {def.hint}
        </p>
      ) : null}
    </div>
  );
}

/** A collapsible group of fields; it opens by itself when one of its fields becomes invalid, and stays open. */
function Group({ title, errors, changed, children }: { title: string; errors: number; changed: number; children: ReactNode }) {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (errors > 0) setOpen(true);
  }, [errors]);
  return (
    <details className="group" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        {title}
        {changed > 0 && <span className="badge">{changed} changed</span>}
        {errors > 0 && <span className="badge error">{errors} invalid</span>}
      </summary>
      <div className="grid-2">{children}</div>
    </details>
  );
}

export function SettingsPanel() {
  const settings = useStudio((s) => s.settings);
  const teacher = useStudio((s) => s.teacher);
  const archs = useStudio((s) => s.studentArchs);
  const running = useStudio((s) => isRunActive(s.run.status));
  const estimate = useStudio((s) => s.estimate);
  const preprocessing = useStudio((s) => s.preprocessing);
  const traits = traitsOf({ teacher, preprocessing });
  const resolved = useMemo(
    () => resolveSettings(settings, traits),
    [settings, traits.inputShape.join(), traits.numClasses, traits.inputRange?.join()],
  );
  const [copied, setCopied] = useState(false);

  const valueOf = (key: string) => settings.overrides[key] ?? configValue(resolved.config, key);
  const set = (key: string, raw: string) => updateSettings(withField(settings, traits, key, raw));
  const seconds = estimatedSeconds();

  const copyLink = async () => {
    const url = `${window.location.origin}${window.location.pathname}${settingsToHash(settings)}`;
    try {
      await navigator.clipboard.writeText(url);
      setCopied(true);
      setTimeout(() => setCopied(false), 1800);
    } catch {
      window.prompt('Copy this link', url);
    }
  };

  const importJson = async (file: File | undefined) => {
    if (!file) return;
    try {
      updateSettings(settingsFromJson(await file.text(), traits));
    } catch (e) {
      raise('settings', `Settings were not imported: ${(e as Error).message}`);
    }
  };

  const seedField = fieldFor('seed');
  const archValue = settings.overrides['student.arch'] ?? configValue(resolved.config, 'student.arch');
  // The zoo's names and the chosen student's description come from the worker.
  const archField: FieldDef = { ...fieldFor('student.arch'), kind: 'select', hint: archs.find((a) => a.name === archValue)?.description };
  const overridden = (key: string) => key in settings.overrides;

  return (
    <section className="panel settings-panel" aria-labelledby="settings-heading">
      <h2 id="settings-heading">Settings</h2>
      <div className="field">
        <label htmlFor="preset">Preset</label>
        <select
          id="preset"
          value={settings.preset}
          disabled={running}
          onChange={(e) => updateSettings(withPreset(settings, e.target.value as PresetName))}
        >
          {PRESET_NAMES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <p className="hint">{PRESET_HINTS[settings.preset]}</p>
      </div>
      <div className="grid-2">
        <Field
          def={archField}
          value={valueOf('student.arch')}
          options={archs.map((a) => a.name)}
          error={resolved.errors['student.arch']}
          overridden={overridden('student.arch')}
          disabled={running}
          onChange={(v) => set('student.arch', v)}
        />
        <Field
          def={seedField}
          value={valueOf('seed')}
          error={resolved.errors.seed}
          overridden={overridden('seed')}
          disabled={running}
          onChange={(v) => set('seed', v)}
        />
      </div>

      {FIELD_GROUPS.map((group) => (
        <Group
          key={group.title}
          title={group.title}
          errors={group.fields.filter((f) => resolved.errors[f.key]).length}
          changed={group.fields.filter((f) => overridden(f.key)).length}
        >
          {group.fields.map((f) => (
            <Field
              key={f.key}
              def={f}
              value={valueOf(f.key)}
              error={resolved.errors[f.key]}
              overridden={overridden(f.key)}
              disabled={running}
              onChange={(v) => set(f.key, v)}
            />
          ))}
        </Group>
      ))}

      {resolved.general.length > 0 && (
        <ul className="general-errors">
          {resolved.general.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}

      <div className="estimate" aria-live="polite">
        <span className="estimate-label">Estimated time</span>
        <span className="estimate-value" data-testid="estimate">
          {teacher.status !== 'ready'
            ? 'load a teacher to estimate'
            : !resolved.valid
              ? '—'
              : seconds !== null
                ? `≈ ${formatDuration(seconds)}`
                : estimate.status === 'error'
                  ? 'could not measure'
                  : 'measuring…'}
        </span>
        {seconds !== null && estimate.probe && (
          <span className="hint">
            An estimate from a timed probe on {estimate.probe.backend}: {formatNum(estimate.probe.synthesisMsPerStep)} ms per
            synthesis step, {formatNum(estimate.probe.studentMsPerStep)} ms per student step, times the counts.
          </span>
        )}
      </div>

      <div className="button-row small-buttons">
        <button type="button" className="button ghost" onClick={() => void copyLink()}>
          {copied ? 'Link copied' : 'Copy link'}
        </button>
        <button type="button" className="button ghost" onClick={exportSettings}>
          Export JSON
        </button>
        <label className={`button ghost ${running ? 'disabled' : ''}`}>
          Import JSON
          <input
            className="visually-hidden"
            type="file"
            accept=".json,application/json"
            aria-label="Import settings"
            disabled={running}
            onChange={(e) => {
              void importJson(e.target.files?.[0]);
              e.target.value = '';
            }}
          />
        </label>
        <button
          type="button"
          className="button ghost"
          disabled={running || Object.keys(settings.overrides).length === 0}
          onClick={() => updateSettings(withPreset({ preset: settings.preset, overrides: {} }, settings.preset))}
        >
          Reset
        </button>
      </div>
    </section>
  );
}
