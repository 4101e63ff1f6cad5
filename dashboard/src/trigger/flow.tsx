/**
 * A trigger's steps drawn as a flow, top to bottom, with the counters of each step: what it sent
 * on which channel and what became of it, and how many fewer got there than to the step before
 * (the drop-off). Nested steps (wait_for outcomes, branches, experiment variants) sit side by side.
 *
 * Step ids are the engine's node ids (src/core/triggers/program.ts): a step's own `id`, else its
 * path — `2`, `0.on_timeout.1`, `3.branch.0.0`, `1.<variant>.0` — which is how counters name them.
 */
import type { ComponentChildren } from 'preact';
import { count, percent } from '../format';
import type { EventMatch, StepCounts, StepDefinition, TriggerDefinition, TriggerSummary } from '../types';
import { Counts } from '../ui';

interface FlowContext {
  steps: Record<string, StepCounts>;
  entered: number;
}

export function Flow({ definition, trigger }: { definition: TriggerDefinition; trigger: TriggerSummary }) {
  const context: FlowContext = { steps: trigger.steps, entered: trigger.report.entered };
  const exited = Object.values(trigger.report.exited).reduce((a, b) => a + b, 0);
  return (
    <div class="flow" aria-label={`Steps of ${trigger.name}`}>
      <div class="node entry">
        <div class="node-kind">Entry</div>
        <div>
          <Match match={definition.entry} />
          {definition.reentry && <span class="muted small"> · re-entry {definition.reentry}</span>}
        </div>
        <div class="node-counts">
          <strong>{count(trigger.report.entered)}</strong> entered · <strong>{count(trigger.inFlight)}</strong> in flight
        </div>
      </div>
      <Steps steps={definition.steps} prefix="" before={trigger.report.entered} context={context} />
      <div class="node end">
        <div class="node-kind">End</div>
        <div class="node-counts">
          <strong>{count(trigger.report.completed)}</strong> completed every step · <strong>{count(exited)}</strong> exited early{' '}
          {exited > 0 && (
            <span class="muted">
              (<Counts counts={trigger.report.exited} />)
            </span>
          )}
        </div>
        {definition.exit_on && definition.exit_on.length > 0 && (
          <div class="small">
            Exits on{' '}
            {definition.exit_on.map((m, i) => (
              <span key={i}>
                {i > 0 && ' or '}
                <Match match={m} />
              </span>
            ))}
          </div>
        )}
        {definition.goal && (
          <div class="small">
            Goal <Match match={definition.goal} /> within {definition.goal.within}:{' '}
            <strong>{count(trigger.report.goals)}</strong> reached ({percent(trigger.report.goals, trigger.report.entered)} of entered)
          </div>
        )}
      </div>
    </div>
  );
}

function Match({ match }: { match: EventMatch }) {
  return (
    <>
      <code>{match.event}</code>
      {match.when && (
        <>
          {' '}
          when <code>{match.when}</code>
        </>
      )}
    </>
  );
}

const sentTotal = (c: StepCounts | undefined): number => (c ? Object.values(c.sent).reduce((a, b) => a + b, 0) : 0);

/**
 * A list of steps. `before` is how many reached the list (null where counters cannot say, inside
 * a branch): each send step compares with the last send before it.
 */
function Steps({ steps, prefix, before, context }: { steps: readonly StepDefinition[]; prefix: string; before: number | null; context: FlowContext }) {
  let reached = before;
  return (
    <ol class="steps">
      {steps.map((step, i) => {
        const id = step.id ?? `${prefix}${i}`;
        const previous = reached;
        if ('send' in step) reached = sentTotal(context.steps[id]);
        return (
          <li key={id}>
            <Step step={step} id={id} path={`${prefix}${i}.`} previous={previous} context={context} />
          </li>
        );
      })}
    </ol>
  );
}

function Step({ step, id, path, previous, context }: { step: StepDefinition; id: string; path: string; previous: number | null; context: FlowContext }) {
  if ('send' in step) return <SendStep step={step} id={id} previous={previous} context={context} />;
  if ('wait' in step) {
    return (
      <div class="node wait">
        <div class="node-kind">Wait</div>
        <div>{typeof step.wait === 'string' ? step.wait : `until ${step.wait.until} (user's local time)`}</div>
        <StepId id={id} />
      </div>
    );
  }
  if ('wait_for' in step) {
    return (
      <div class="node wait">
        <div class="node-kind">Wait for</div>
        <div>
          {step.wait_for.map((m, i) => (
            <span key={i}>
              {i > 0 && ' or '}
              <Match match={m} />
            </span>
          ))}{' '}
          up to {step.timeout}
        </div>
        <StepId id={id} />
        <Arms
          arms={[
            { label: 'If it comes', steps: step.on_event, prefix: `${path}on_event.` },
            { label: 'On timeout', steps: step.on_timeout, prefix: `${path}on_timeout.` },
          ]}
          context={context}
        />
      </div>
    );
  }
  if ('branch' in step) {
    return (
      <div class="node branch">
        <div class="node-kind">Branch</div>
        <StepId id={id} />
        <Arms
          arms={step.branch.map((arm, j) =>
            'else' in arm
              ? { label: 'Otherwise', steps: arm.else, prefix: `${path}branch.${j}.` }
              : { label: <>If <code>{arm.when}</code></>, steps: arm.steps, prefix: `${path}branch.${j}.` },
          )}
          context={context}
        />
      </div>
    );
  }
  const e = step.experiment;
  return (
    <div class="node branch">
      <div class="node-kind">Experiment {e.id}</div>
      {e.holdout ? <div class="small">{e.holdout} % held out (get nothing)</div> : null}
      <StepId id={id} />
      <Arms arms={e.variants.map((v) => ({ label: `${v.name} (weight ${v.weight ?? 1})`, steps: v.steps, prefix: `${path}${v.name}.` }))} context={context} />
    </div>
  );
}

function SendStep({ step, id, previous, context }: { step: Extract<StepDefinition, { send: string }>; id: string; previous: number | null; context: FlowContext }) {
  const counts = context.steps[id];
  const sent = sentTotal(counts);
  const dropped = previous === null ? null : previous - sent;
  return (
    <div class="node send">
      <div class="node-kind">Send {step.send}</div>
      <div>
        template <code>{step.template}</code>
        {step.fallback && step.fallback.length > 0 && <span class="muted"> · fallback {step.fallback.join(', ')}</span>}
      </div>
      <StepId id={id} />
      <div class="node-counts">
        <strong>{count(sent)}</strong> sent{sent > 0 && <> ({percent(sent, context.entered)} of entered)</>}
        {counts && Object.keys(counts.outcomes).length > 0 && (
          <>
            {' '}
            · <Counts counts={counts.outcomes} />
          </>
        )}
      </div>
      {dropped !== null && dropped > 0 && (
        <div class="dropoff">
          −{count(dropped)} from the step before ({percent(dropped, previous!)}): still waiting, or left
        </div>
      )}
    </div>
  );
}

function StepId({ id }: { id: string }) {
  return <div class="muted small">step {id}</div>;
}

function Arms({ arms, context }: { arms: { label: ComponentChildren; steps: readonly StepDefinition[] | undefined; prefix: string }[]; context: FlowContext }) {
  return (
    <div class="arms">
      {arms.map((arm, i) => (
        <div class="arm" key={i}>
          <div class="arm-label">{arm.label}</div>
          {arm.steps && arm.steps.length > 0 ? <Steps steps={arm.steps} prefix={arm.prefix} before={null} context={context} /> : <div class="muted small">go on with the next step</div>}
        </div>
      ))}
    </div>
  );
}
