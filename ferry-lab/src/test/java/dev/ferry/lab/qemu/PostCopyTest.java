package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * QEMU's post-copy migration needs a vhost-user back-end that serves the guest's page faults
 * ({@code VHOST_USER_PROTOCOL_F_PAGEFAULT}); Ferry's agent does not offer it. An operator who asks
 * for post-copy of a VM on a Ferry port is refused by QEMU before any migration begins, and the VM
 * runs on where it was.
 */
class PostCopyTest {
    private FerryVms vms;

    @AfterEach
    void close() {
        if (vms != null) vms.close();
    }

    @Test
    void qemuRefusesPostCopyForAVmOnAFerryPortAndTheVmRunsOnWhereItWas() throws Exception {
        vms = new FerryVms();
        QemuVm source = vms.start("pc", 1, 0x525400000031L, "198.18.0.31");
        vms.awaitReady();
        QemuVm destination = vms.incoming("pc", 2, 0x525400000031L, "198.18.0.31", LoopbackPorts.tcp());

        assertThatThrownBy(() -> destination.qmp(e -> {}).execute("migrate-set-capabilities",
                Map.of("capabilities", List.of(Map.of("capability", "postcopy-ram", "state", true)))))
                .hasMessageContaining("Postcopy is not supported");

        assertThat(destination.transcript()).as("QEMU's reason").contains("vhost-user backend not capable of postcopy");
        assertThat(source.qmp(e -> {}).execute("query-status").path("status").asText()).as("the source copy").isEqualTo("running");
    }
}
