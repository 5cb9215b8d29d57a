import java.io.File;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Parses each XML file given (manifests, resources) and fails on the first that is not
 * well-formed; for a strings.xml, also checks that Android will accept each value: no bare
 * apostrophe or double quote (they must be escaped as \' and \"). Run by
 * scripts/suites/shells.sh as `java android/tools/CheckXml.java FILE...` (JDK 11+).
 */
public class CheckXml {
    public static void main(String[] args) throws Exception {
        var factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        int bad = 0;
        for (String path : args) {
            try {
                var doc = factory.newDocumentBuilder().parse(new File(path));
                NodeList strings = doc.getElementsByTagName("string");
                for (int i = 0; i < strings.getLength(); i++) {
                    var s = (Element) strings.item(i);
                    String v = s.getTextContent();
                    for (int j = 0; j < v.length(); j++) {
                        char c = v.charAt(j);
                        if ((c == '\'' || c == '"') && (j == 0 || v.charAt(j - 1) != '\\')) {
                            System.err.println(path + ": string " + s.getAttribute("name") + " has an unescaped " + c);
                            bad++;
                        }
                    }
                }
            } catch (Exception e) {
                System.err.println(path + ": not well-formed XML: " + e.getMessage());
                bad++;
            }
        }
        if (bad > 0) System.exit(1);
        System.out.println("xml: " + args.length + " file(s) well-formed");
    }
}
