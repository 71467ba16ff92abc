import { Command, CommanderError } from "commander";
import { errorMessage, FlError } from "../shared/src/errors.js";
import { registerAnalyseCommand } from "./commands/analyse.js";
import { registerBenchCommands } from "./commands/bench.js";
import { registerClientCommand } from "./commands/client.js";
import { registerCoordinatorCommand } from "./commands/coordinator.js";
import { registerDataCommands } from "./commands/data.js";
import { registerEventsCommands } from "./commands/events.js";
import { registerKeysCommands } from "./commands/keys.js";
import { registerProvisionCommand } from "./commands/provision.js";
import { registerReportCommand } from "./commands/report.js";
import { registerSimulateCommand } from "./commands/simulate.js";
import { registerSitesCommands } from "./commands/sites.js";
import { registerStatusCommand } from "./commands/status.js";

const program = new Command()
  .name("fl")
  .description("Federated learning for chest X-ray models across hospitals")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

registerSimulateCommand(program);
registerCoordinatorCommand(program);
registerClientCommand(program);
registerKeysCommands(program);
registerProvisionCommand(program);
registerDataCommands(program);
registerEventsCommands(program);
registerStatusCommand(program);
registerSitesCommands(program);
registerBenchCommands(program);
registerAnalyseCommand(program);
registerReportCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else {
    // Domain errors already say what was wrong and what to do; anything else is a bug worth a stack.
    process.stderr.write(
      error instanceof FlError
        ? `error: ${error.message}\n`
        : `error: ${errorMessage(error)}\n${(error as Error).stack ?? ""}\n`,
    );
    process.exitCode = 1;
  }
}
