/**
 * The trigger's YAML file, editable. The server checks the draft as it is typed (PUT with
 * `dryRun`, nothing written) and on save (PUT: writes the file and applies it); each problem is
 * marked on its line and listed under the editor with its line, column and field, a button that
 * puts the cursor there.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, call } from '../api';
import type { Issue, SaveResult } from '../types';

const checkDelayMs = 400;

export interface EditorProps {
  triggerId: string;
  /** The file as saved. */
  saved: string;
  draft: string;
  onDraft: (text: string) => void;
  onSaved: () => void;
}

export function YamlEditor({ triggerId, saved, draft, onDraft, onSaved }: EditorProps) {
  const [issues, setIssues] = useState<readonly Issue[]>([]);
  const [checked, setChecked] = useState<'checking' | 'valid' | 'invalid' | null>(null);
  const [saving, setSaving] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLPreElement>(null);
  const dirty = draft !== saved;

  const put = (dryRun: boolean) =>
    call<SaveResult>(`/triggers/${encodeURIComponent(triggerId)}`, { method: 'PUT', body: draft, contentType: 'application/yaml', query: { dryRun: dryRun || undefined } });

  useEffect(() => {
    if (!dirty) {
      setIssues([]);
      setChecked(null);
      return;
    }
    setChecked('checking');
    // A check that answers after the draft changed again (an edit, a revert) answers for a text
    // that is no longer there: its result is dropped.
    let current = true;
    const timer = setTimeout(() => {
      put(true).then(
        () => {
          if (!current) return;
          setIssues([]);
          setChecked('valid');
        },
        (e: Error) => {
          if (!current) return;
          setIssues(e instanceof ApiError && e.issues.length > 0 ? e.issues : [{ path: '', message: e.message }]);
          setChecked('invalid');
        },
      );
    }, checkDelayMs);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [draft, dirty]);

  const save = async (e: Event) => {
    e.preventDefault();
    setSaving(true);
    setNotice(null);
    try {
      const result = await put(false);
      setIssues([]);
      setNotice(`Saved and applied: version ${result.version}.`);
      onSaved();
    } catch (err) {
      setIssues(err instanceof ApiError && err.issues.length > 0 ? err.issues : [{ path: '', message: (err as Error).message }]);
      setChecked('invalid');
    } finally {
      setSaving(false);
    }
  };

  const jumpTo = (line: number, column: number) => {
    const textarea = area.current;
    if (!textarea) return;
    const lines = draft.split('\n');
    const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0) + Math.max(0, column - 1);
    textarea.focus();
    textarea.setSelectionRange(offset, offset);
    const lineHeight = parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
    followScroll();
  };

  /** The line numbers scroll with the text. */
  const followScroll = () => {
    if (gutter.current && area.current) gutter.current.scrollTop = area.current.scrollTop;
  };
  useLayoutEffect(followScroll);

  const lineCount = draft.split('\n').length;
  const byLine = new Map<number, Issue[]>();
  for (const issue of issues) if (issue.line) byLine.set(issue.line, [...(byLine.get(issue.line) ?? []), issue]);

  return (
    <form class="editor-form" onSubmit={save}>
      <div class="editor">
        <pre class="gutter" ref={gutter} aria-hidden="true">
          {Array.from({ length: lineCount }, (_, i) => {
            const here = byLine.get(i + 1);
            return (
              <span key={i} class={here ? 'bad-line' : undefined} title={here?.map((x) => `${x.field ?? ''}: ${x.message}`).join('\n')}>
                {here ? '●' : ''}
                {i + 1}
                {'\n'}
              </span>
            );
          })}
        </pre>
        <textarea
          id="trigger-yaml"
          ref={area}
          value={draft}
          spellcheck={false}
          wrap="off"
          rows={Math.min(Math.max(lineCount + 1, 12), 28)}
          aria-label={`YAML of trigger ${triggerId}`}
          aria-invalid={issues.length > 0 ? 'true' : undefined}
          aria-describedby="trigger-yaml-status trigger-yaml-issues"
          onInput={(e) => onDraft(e.currentTarget.value)}
          onScroll={followScroll}
          onKeyDown={(e) => {
            // Tab indents (YAML uses spaces); Escape then Tab leaves the editor as usual.
            if (e.key !== 'Tab' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || escaped.current) return;
            e.preventDefault();
            const t = e.currentTarget;
            const at = t.selectionStart;
            onDraft(`${t.value.slice(0, at)}  ${t.value.slice(t.selectionEnd)}`);
            requestAnimationFrame(() => t.setSelectionRange(at + 2, at + 2));
          }}
          onKeyUp={(e) => (escaped.current = e.key === 'Escape')}
        />
      </div>
      <div class="editor-bar">
        <span class="muted small">Tab indents; Esc, then Tab, moves on.</span>
        <span id="trigger-yaml-status" class="small" role="status">
          {dirty ? (checked === 'checking' ? 'Checking…' : checked === 'valid' ? 'Unsaved changes, valid.' : checked === 'invalid' ? `Unsaved changes with ${issues.length} problem(s).` : 'Unsaved changes.') : 'Saved.'}
          {notice && !dirty ? ` ${notice}` : ''}
        </span>
        <span class="spacer" />
        <button type="button" class="quiet" disabled={!dirty || saving} onClick={() => onDraft(saved)}>
          Revert
        </button>
        <button type="submit" disabled={!dirty || saving}>
          {saving ? 'Saving…' : 'Save and apply'}
        </button>
      </div>
      <div id="trigger-yaml-issues">
        {issues.length > 0 && (
          <div class="notice error" role="alert">
            <p>The trigger is not valid; nothing was saved:</p>
            <ul class="issues">
              {issues.map((issue, i) => (
                <li key={i}>
                  {issue.line ? (
                    <button type="button" class="link" onClick={() => jumpTo(issue.line!, issue.column ?? 1)}>
                      Line {issue.line}, column {issue.column}
                    </button>
                  ) : null}{' '}
                  {issue.field && <code>{issue.field}</code>}
                  {issue.field || issue.line ? ': ' : ''}
                  {issue.message}
                  {!issue.line && issue.path && <span class="muted small"> ({issue.path})</span>}
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
    </form>
  );
}

/** Set while the last key released was Escape: the next Tab moves the focus instead of indenting. */
const escaped = { current: false };
