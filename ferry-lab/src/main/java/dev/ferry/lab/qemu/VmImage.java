package dev.ferry.lab.qemu;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The tiny test VM (kernel and initramfs) that {@code scripts/vm-image.sh} builds from Debian's
 * packages into a cache directory; built on first use, then reused while nothing it is made of changed.
 *
 * @param kernel    Debian's vmlinuz
 * @param initramfs busybox, the NIC's modules, the init and the traffic tool
 */
public record VmImage(Path kernel, Path initramfs) {

    /** Builds the image if needed (a few seconds, downloads about 70 MB once) and returns it. */
    public static VmImage ensure() throws IOException, InterruptedException {
        Path script = projectRoot().resolve("scripts/vm-image.sh");
        Process p = new ProcessBuilder("bash", script.toString()).redirectErrorStream(false).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IOException("scripts/vm-image.sh failed (exit " + p.exitValue() + "): " + err);
        }
        Path dir = Path.of(out.lines().reduce((a, b) -> b).orElse(""));
        VmImage image = new VmImage(dir.resolve("vmlinuz"), dir.resolve("initramfs.cpio.gz"));
        if (!Files.isRegularFile(image.kernel) || !Files.isRegularFile(image.initramfs)) {
            throw new IOException("scripts/vm-image.sh said " + dir + " but there is no vmlinuz and initramfs.cpio.gz there");
        }
        return image;
    }

    /** The repository's root: {@code FERRY_ROOT}, else the nearest directory up with scripts/vm-image.sh. */
    public static Path projectRoot() throws IOException {
        String env = System.getenv("FERRY_ROOT");
        if (env != null) return Path.of(env);
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve("scripts/vm-image.sh"))) return d;
        }
        throw new IOException("cannot find Ferry's scripts/vm-image.sh above " + Path.of("").toAbsolutePath() + "; set FERRY_ROOT");
    }
}
