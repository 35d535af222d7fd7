package dev.timerkernel.client.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The README shows only code that the build compiles: each Java block is an excerpt of an example. */
class ReadmeExamplesTest {
    private static List<String> meaningfulLines(List<String> lines) {
        return lines.stream().map(String::trim).filter(line -> !line.isEmpty()).collect(Collectors.toList());
    }

    private static List<List<String>> javaBlocks(List<String> readme) {
        List<List<String>> blocks = new ArrayList<>();
        List<String> current = null;
        for (String line : readme) {
            if (current == null && line.trim().equals("```java")) {
                current = new ArrayList<>();
            } else if (current != null && line.trim().equals("```")) {
                blocks.add(meaningfulLines(current));
                current = null;
            } else if (current != null) {
                current.add(line);
            }
        }

        return blocks;
    }

    @Test
    void every_java_block_of_the_readme_is_in_an_example_file() throws IOException {
        Path readme = Paths.get(System.getProperty("timerkernel.readme", "README.md"));
        Path examples =
                Paths.get(System.getProperty("timerkernel.examples", "src/test/java/dev/timerkernel/client/examples"));
        List<List<String>> sources = new ArrayList<>();
        try (Stream<Path> files = Files.list(examples)) {
            for (Path file : files.filter(path -> path.toString().endsWith("Example.java")
                            || path.getFileName().toString().equals("QuickStart.java"))
                    .collect(Collectors.toList())) {
                sources.add(meaningfulLines(Files.readAllLines(file, StandardCharsets.UTF_8)));
            }
        }

        List<List<String>> blocks = javaBlocks(Files.readAllLines(readme, StandardCharsets.UTF_8));

        assertTrue(blocks.size() >= 7, "the README has " + blocks.size() + " Java blocks");
        for (List<String> block : blocks) {
            boolean found = sources.stream().anyMatch(source -> Collections.indexOfSubList(source, block) >= 0);
            assertTrue(found, "this README block is in no example file:\n" + String.join("\n", block));
        }
    }
}
