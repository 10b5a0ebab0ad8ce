package dev.ferry.lab.sim;

import dev.ferry.agent.Mode;
import org.junit.jupiter.api.Test;

class ScratchReplayTest {
    @Test
    void replay() {
        for (String seed : System.getProperty("seeds", "").split(",")) {
            if (seed.isBlank()) continue;
            System.out.println(Simulation.run(Long.parseLong(seed.trim()), Mode.FERRY).describe());
        }
    }
}
