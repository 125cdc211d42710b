import assert from "node:assert/strict";
import { test } from "node:test";
import { errorText, RootstockError, RootstockErrors } from "./errors.ts";

test("an error as text keeps each gathered error's code on its first line, and its further lines under it", () => {
  const inner = new RootstockError(
    "ERR_SOURCE_UNAVAILABLE",
    "step app: app.tar.gz\n  - /src/app.tar.gz: sha256 mismatch",
    {
      hint: "fix the pin",
    },
  );
  const text = errorText(
    new RootstockErrors("ERR_SOURCES_UNAVAILABLE", "1 source could not be obtained", [inner], {
      hint: "add a mirror",
    }),
  );
  assert.equal(
    text,
    [
      "1 source could not be obtained [ERR_SOURCES_UNAVAILABLE]",
      "  - step app: app.tar.gz [ERR_SOURCE_UNAVAILABLE]",
      "      - /src/app.tar.gz: sha256 mismatch",
      "    hint: fix the pin",
      "  hint: add a mirror",
    ].join("\n"),
  );
});

test("a headline shows a file whose path holds a line break as typed, on one line", () => {
  const error = new RootstockError("ERR_PLAN_BAD_VALUE", "expected a number", {
    file: "my\nplan/plan.toml",
    line: 3,
    field: "jobs",
  });
  assert.equal(error.headline, "$'my\\nplan/plan.toml':3: jobs: expected a number");
  const plain = new RootstockError("ERR_PLAN_BAD_VALUE", "expected a number", { file: "my plan/plan.toml" });
  assert.equal(plain.headline, "my plan/plan.toml: expected a number");
});
