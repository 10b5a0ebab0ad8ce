package dev.ferry.lab.timeline;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The lab's report: {@code index.html} with the per-migration table and each migration's picture,
 * written beside it as {@code migration-N.svg} (so each can be opened, or put in a README, alone).
 */
public final class TimelineReport {
    /** One migration: its table row (header and cells in the same order) and its picture, if any. */
    public record Entry(int n, List<String> cells, Timeline timeline) {}

    private TimelineReport() {}

    /** Writes the report into {@code dir} (created if needed); returns the HTML file's path. */
    public static Path write(Path dir, String title, List<String> header, List<Entry> entries, List<String> notes) throws IOException {
        Files.createDirectories(dir);
        StringBuilder html = new StringBuilder(16_384);
        html.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(TimelineSvg.xml(title))
                .append("</title>\n<style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}"
                        + "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
                        + "img{display:block;margin:8px 0 28px;max-width:100%}</style></head>\n<body>\n<h1>")
                .append(TimelineSvg.xml(title)).append("</h1>\n");
        for (String note : notes) html.append("<p>").append(TimelineSvg.xml(note)).append("</p>\n");
        html.append("<table>\n<tr>");
        for (String h : header) html.append("<th>").append(TimelineSvg.xml(h)).append("</th>");
        html.append("</tr>\n");
        for (Entry e : entries) {
            html.append("<tr>");
            for (String c : e.cells()) html.append("<td>").append(TimelineSvg.xml(c)).append("</td>");
            html.append("</tr>\n");
        }
        html.append("</table>\n");
        for (Entry e : entries) {
            if (e.timeline() == null) continue;
            String file = "migration-" + e.n() + ".svg";
            Files.writeString(dir.resolve(file), TimelineSvg.render(e.timeline()), StandardCharsets.UTF_8);
            html.append("<h2>Migration ").append(e.n()).append("</h2>\n<img src=\"").append(file).append("\" alt=\"")
                    .append(TimelineSvg.xml(e.timeline().title())).append("\">\n");
        }
        html.append("</body></html>\n");
        Path index = dir.resolve("index.html");
        Files.writeString(index, html, StandardCharsets.UTF_8);
        return index;
    }
}
