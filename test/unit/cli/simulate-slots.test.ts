import { expect, it } from "vitest";
import { SlotHolder, SlotPool } from "../../../cli/simulate/slots.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

it("a client that dies holding a slot hands it back, and the next waiting client gets it", async () => {
  const pool = new SlotPool(1);
  const crashed = new SlotHolder(pool);
  const waiting = new SlotHolder(pool);
  expect(await crashed.acquire()).toBe(true);
  let granted: boolean | undefined;
  void waiting.acquire().then((g) => {
    granted = g;
  });
  await tick();
  expect(granted).toBeUndefined();
  crashed.close(); // it never sent "release"
  await tick();
  expect(granted).toBe(true);
  // Releases the holder does not hold do not grow the pool past its capacity.
  crashed.release();
  const third = new SlotHolder(pool);
  let thirdGranted = false;
  void third.acquire().then(() => {
    thirdGranted = true;
  });
  await tick();
  expect(thirdGranted).toBe(false);
  waiting.release();
  await tick();
  expect(thirdGranted).toBe(true);
});

it("a client that dies while waiting passes the slot it is granted on", async () => {
  const pool = new SlotPool(1);
  const first = new SlotHolder(pool);
  const dying = new SlotHolder(pool);
  const later = new SlotHolder(pool);
  await first.acquire();
  const dyingGrant = dying.acquire();
  dying.close();
  const laterGrant = later.acquire();
  first.release();
  expect(await dyingGrant).toBe(false);
  expect(await laterGrant).toBe(true);
});
