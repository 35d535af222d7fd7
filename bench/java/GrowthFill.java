import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.cassandra.io.sstable.CQLSSTableWriter;

/**
 * Writes the rows of a growth benchmark's fill straight into SSTables.
 *
 * Arguments: the output folder, then for each table three arguments: its
 * CREATE TABLE statement, its INSERT statement and its column types
 * (comma-separated: text, int, bigint or double). Standard input has one
 * row a line: the table's position among the arguments, then the values,
 * separated by tabs, with \N for null and \t, \n, \\ escaped. Each table's
 * SSTables go to OUTPUT/keyspace/table, where the loader expects them.
 */
public final class GrowthFill {
    private GrowthFill() {
    }

    public static void main(String[] arguments) throws Exception {
        File output = new File(arguments[0]);
        List<CQLSSTableWriter> writers = new ArrayList<>();
        List<String[]> types = new ArrayList<>();
        for (int first = 1; first + 2 < arguments.length; first += 3) {
            String create = arguments[first];
            File folder = new File(output, tableOf(create));
            folder.mkdirs();
            writers.add(
                CQLSSTableWriter.builder()
                    .inDirectory(folder.getPath())
                    .forTable(create)
                    .using(arguments[first + 1])
                    .withBufferSizeInMiB(128)
                    .build());
            types.add(arguments[first + 2].split(","));
        }

        BufferedReader input = new BufferedReader(
            new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 20);
        long rows = 0;
        for (String line = input.readLine(); line != null; line = input.readLine()) {
            String[] fields = line.split("\t", -1);
            int table = Integer.parseInt(fields[0]);
            String[] columns = types.get(table);
            List<Object> values = new ArrayList<>(columns.length);
            for (int i = 0; i < columns.length; i++) {
                values.add(parse(columns[i], fields[i + 1]));
            }
            writers.get(table).addRow(values);
            rows++;
        }

        for (CQLSSTableWriter writer : writers) {
            writer.close();
        }
        System.out.println(rows + " rows written");
    }

    /** keyspace/table of "CREATE TABLE keyspace.table (...". */
    private static String tableOf(String create) {
        String name = create.substring("CREATE TABLE ".length()).trim().split("[\\s(]")[0];
        return name.replace('.', File.separatorChar);
    }

    private static Object parse(String type, String field) {
        if (field.equals("\\N")) {
            return null;
        }
        switch (type) {
            case "int":
                return Integer.valueOf(field);
            case "bigint":
                return Long.valueOf(field);
            case "double":
                return Double.valueOf(field);
            default:
                return unescape(field);
        }
    }

    private static String unescape(String field) {
        if (field.indexOf('\\') < 0) {
            return field;
        }
        StringBuilder text = new StringBuilder(field.length());
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 1 < field.length()) {
                char next = field.charAt(++i);
                text.append(next == 't' ? '\t' : next == 'n' ? '\n' : next);
            } else {
                text.append(c);
            }
        }
        return text.toString();
    }
}
