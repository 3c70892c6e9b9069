// Readiness probe used by kafka.sh when .venv/bin/python with aiokafka is unavailable.
// Run as a single-file source program: java -cp '<libs>/*' Ready.java <bootstrap> <timeout-ms> [client.properties]
// (the optional properties file holds the client's security settings, as Kafka's own --command-config).
// Exits 0 after a real metadata round trip (listTopics), 1 otherwise.
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class Ready {
    public static void main(String[] args) throws IOException {
        int timeoutMs = Integer.parseInt(args[1]);
        Properties props = new Properties();
        if (args.length > 2) {
            try (InputStream in = new FileInputStream(args[2])) {
                props.load(in);
            }
        }
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, timeoutMs);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
        try (Admin admin = Admin.create(props)) {
            int n = admin.listTopics().names().get(timeoutMs, TimeUnit.MILLISECONDS).size();
            System.out.println("metadata ok: " + n + " topic(s)");
        } catch (Exception e) {
            System.err.println("metadata failed: " + e);
            System.exit(1);
        }
    }
}
