/**
 * A trigger's steps drawn as a flow, top to bottom, with the counters of each step: what it sent
 * on which channel and what became of it, how many runs wait at it now (wait and wait_for steps),
 * and how many fewer got there than to the step before (the drop-off): of those, how many are still
 * waiting on the way (at the steps in between, nested ones included) and how many left (exited,
 * or went another way). Nested steps (wait_for outcomes, branches, experiment variants) sit side
 * by side. Runs on an older version are counted at their step's id; those whose step id is no
 * wait of this version are shown apart, at the entry.
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
  /** Runs waiting now, by step id. */
  waiting: Record<string, number>;
  entered: number;
}

export function Flow({ definition, trigger }: { definition: TriggerDefinition; trigger: TriggerSummary }) {
  const waiting = trigger.report.waiting;
  const context: FlowContext = { steps: trigger.steps, waiting, entered: trigger.report.entered };
  const exited = Object.values(trigger.report.exited).reduce((a, b) => a + b, 0);
  const waitingTotal = Object.values(waiting).reduce((a, b) => a + b, 0);
  const elsewhere = waitingTotal - waitingWithin(definition.steps, '', waiting);
  return (
    <div class="flow" aria-label={`Steps of ${trigger.name}`}>
      <div class="node entry">
        <div class="node-kind">Entry</div>
        <div>
          <Match match={definition.entry} />
          {definition.reentry && <span class="muted small"> · re-entry {definition.reentry}</span>}
        </div>
        <div class="node-counts">
          <strong>{count(trigger.report.entered)}</strong> entered · <strong>{count(trigger.inFlight)}</strong> in flight ·{' '}
          <strong>{count(waitingTotal)}</strong> waiting
        </div>
        {elsewhere > 0 && <div class="muted small">{count(elsewhere)} of them at steps of an earlier version of the trigger</div>}
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

/** The step lists nested in a step, each with the prefix of its steps' path ids (as program.ts names them). */
function nestedLists(step: StepDefinition, path: string): { steps: readonly StepDefinition[]; prefix: string }[] {
  if ('wait_for' in step) {
    return [
      { steps: step.on_event ?? [], prefix: `${path}on_event.` },
      { steps: step.on_timeout ?? [], prefix: `${path}on_timeout.` },
    ];
  }
  if ('branch' in step) return step.branch.map((arm, j) => ({ steps: 'else' in arm ? arm.else : arm.steps, prefix: `${path}branch.${j}.` }));
  if ('experiment' in step) return step.experiment.variants.map((v) => ({ steps: v.steps, prefix: `${path}${v.name}.` }));
  return [];
}

/** Runs waiting now at a step (if it is a wait or wait_for) and at the steps nested in it. */
function waitingAt(step: StepDefinition, id: string, path: string, waiting: Record<string, number>): number {
  const own = 'wait' in step || 'wait_for' in step ? (waiting[id] ?? 0) : 0;
  return own + nestedLists(step, path).reduce((sum, list) => sum + waitingWithin(list.steps, list.prefix, waiting), 0);
}

/** Runs waiting now at the wait and wait_for steps of a list, nested ones included. */
function waitingWithin(steps: readonly StepDefinition[], prefix: string, waiting: Record<string, number>): number {
  return steps.reduce((sum, step, i) => sum + waitingAt(step, step.id ?? `${prefix}${i}`, `${prefix}${i}.`, waiting), 0);
}

/**
 * A list of steps. `before` is how many reached the list (null where counters cannot say, inside
 * a branch): each send step compares with the last send before it, and counts the runs waiting at
 * the steps since (they may still get to it).
 */
function Steps({ steps, prefix, before, context }: { steps: readonly StepDefinition[]; prefix: string; before: number | null; context: FlowContext }) {
  let reached = before;
  let waitingOnTheWay = 0;
  return (
    <ol class="steps">
      {steps.map((step, i) => {
        const id = step.id ?? `${prefix}${i}`;
        const path = `${prefix}${i}.`;
        const previous = reached;
        const waitingBefore = waitingOnTheWay;
        if ('send' in step) {
          reached = sentTotal(context.steps[id]);
          waitingOnTheWay = 0;
        } else waitingOnTheWay += waitingAt(step, id, path, context.waiting);
        return (
          <li key={id}>
            <Step step={step} id={id} path={path} previous={previous} waitingBefore={waitingBefore} context={context} />
          </li>
        );
      })}
    </ol>
  );
}

function Step({ step, id, path, previous, waitingBefore, context }: { step: StepDefinition; id: string; path: string; previous: number | null; waitingBefore: number; context: FlowContext }) {
  if ('send' in step) return <SendStep step={step} id={id} previous={previous} waitingBefore={waitingBefore} context={context} />;
  if ('wait' in step) {
    return (
      <div class="node wait">
        <div class="node-kind">Wait</div>
        <div>{typeof step.wait === 'string' ? step.wait : `until ${step.wait.until} (user's local time)`}</div>
        <StepId id={id} />
        <Waiting n={context.waiting[id] ?? 0} />
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
        <Waiting n={context.waiting[id] ?? 0} />
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

function SendStep({ step, id, previous, waitingBefore, context }: { step: Extract<StepDefinition, { send: string }>; id: string; previous: number | null; waitingBefore: number; context: FlowContext }) {
  const counts = context.steps[id];
  const sent = sentTotal(counts);
  const dropped = previous === null ? null : previous - sent;
  // Runs of an older version may wait at these step ids too: never more waiting than dropped.
  const stillWaiting = dropped === null ? 0 : Math.max(0, Math.min(waitingBefore, dropped));
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
          −{count(dropped)} from the step before ({percent(dropped, previous!)}): <strong>{count(stillWaiting)}</strong> still waiting,{' '}
          <strong>{count(dropped - stillWaiting)}</strong> left
        </div>
      )}
    </div>
  );
}

function StepId({ id }: { id: string }) {
  return <div class="muted small">step {id}</div>;
}

/** Runs parked at a wait or wait_for step now. */
function Waiting({ n }: { n: number }) {
  return (
    <div class="node-counts">
      <strong>{count(n)}</strong> waiting
    </div>
  );
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
