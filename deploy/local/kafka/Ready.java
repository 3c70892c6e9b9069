// Readiness probe used by kafka.sh when .venv/bin/python with aiokafka is unavailable.
// Run as a single-file source program: java -cp '<libs>/*' Ready.java <bootstrap> <timeout-ms>
// Exits 0 after a real metadata round trip (listTopics), 1 otherwise.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public class Ready {
    public static void main(String[] args) {
        int timeoutMs = Integer.parseInt(args[1]);
        Properties props = new Properties();
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
