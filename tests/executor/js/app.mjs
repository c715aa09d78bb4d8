// An app written with the Inngest JS SDK, v3 or v4 (SDK=v3|v4), served over node:http on
// 127.0.0.1:$PORT and pointed at the executor at $EXECUTOR_URL (dev mode, classic: the
// executor sends no ctx.fn_id, so v4 does not checkpoint). tests/executor/test_js_sdk.py
// starts it; `npm ci --prefix tests/executor/js` installs both SDKs.
import http from "node:http";

const sdk = process.env.SDK;
const { Inngest } = await import(`inngest-${sdk}`);
const { serve } = await import(`inngest-${sdk}/node`);

const inngest = new Inngest({
  id: `js-${sdk}`,
  isDev: true,
  baseUrl: process.env.EXECUTOR_URL,
});

const fn = (id, handler) =>
  sdk === "v3"
    ? inngest.createFunction({ id, retries: 0 }, { event: `js/${id}` }, handler)
    : inngest.createFunction({ id, retries: 0, triggers: [{ event: `js/${id}` }] }, handler);

// A 1 s sleep against a 6 s wait for an event that never comes, then a step: which
// wins, and when the function goes on.
const napOrWait = (step) =>
  Promise.race([
    step.sleep("short-nap", "1s").then(() => "nap"),
    step
      .waitForEvent("long-wait", { event: "js/never", timeout: "6s" })
      .then((event) => (event ? "event" : "timeout")),
  ]);

const functions = [
  fn("race", async ({ step }) => {
    const winner = await napOrWait(step);
    return step.run("after", () => winner);
  }),
];
if (sdk === "v4") {
  functions.push(
    fn("group-race", async ({ step, group }) => {
      const winner = await group.parallel({ mode: "race" }, () => napOrWait(step));
      return step.run("after", () => winner);
    }),
  );
}

http
  .createServer(serve({ client: inngest, functions }))
  .listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
