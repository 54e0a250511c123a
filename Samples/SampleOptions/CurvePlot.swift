import Foundation
import Synapse

/// Training curves as an SVG file: loss on the left, accuracy on the right, training and
/// validation per epoch.
public enum CurvePlot {
    public static func svg(_ history: History, title: String) -> String {
        let panels = [("loss", ["loss", "val_loss"]), ("accuracy", ["accuracy", "val_accuracy"])]
        let (width, height, margin) = (420.0, 300.0, 64.0)
        var body = ""
        for (p, (label, keys)) in panels.enumerated() {
            let x0 = Double(p) * width
            let series = keys.map { history[$0] }.filter { !$0.isEmpty }
            let values = series.flatMap { $0 }
            guard let low = values.min(), let high = values.max(), let epochs = series.map(\.count).max() else { continue }
            let span = max(high - low, 1e-9)
            func point(_ i: Int, _ v: Double) -> String {
                let x = x0 + margin + (width - 2 * margin) * (epochs > 1 ? Double(i) / Double(epochs - 1) : 0.5)
                let y = margin + (height - 2 * margin) * (1 - (v - low) / span)
                return String(format: "%.1f,%.1f", x, y)
            }
            body += "<rect x=\"\(x0 + margin)\" y=\"\(margin)\" width=\"\(width - 2 * margin)\" height=\"\(height - 2 * margin)\" fill=\"none\" stroke=\"#999\"/>\n"
            body += "<text x=\"\(x0 + width / 2)\" y=\"\(margin - 16)\" text-anchor=\"middle\">\(label)</text>\n"
            body += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" font-size=\"11\">%.4g</text>\n", x0 + margin - 4, margin + 4, high)
            body += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\" font-size=\"11\">%.4g</text>\n", x0 + margin - 4, height - margin, low)
            body += "<text x=\"\(x0 + width / 2)\" y=\"\(height - margin + 20)\" text-anchor=\"middle\" font-size=\"11\">epoch 1-\(epochs)</text>\n"
            for (k, key) in keys.enumerated() where !history[key].isEmpty {
                let color = k == 0 ? "#1f77b4" : "#d62728"
                let points = history[key].enumerated().map { point($0.offset, $0.element) }.joined(separator: " ")
                body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>\n"
                body += "<text x=\"\(x0 + width - margin)\" y=\"\(height - margin - 8 - 14 * Double(1 - k))\" text-anchor=\"end\" font-size=\"11\" fill=\"\(color)\">\(key)</text>\n"
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(2 * width))" height="\(Int(height))" font-family="sans-serif" font-size="13">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width)" y="16" text-anchor="middle">\(title)</text>
            \(body)</svg>

            """
    }
}
