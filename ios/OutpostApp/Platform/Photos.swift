import Foundation
import SwiftUI
import UIKit

/// Camera glue (not the generated `Photos`, core's photo area): the picture as a JPEG file
/// whose path goes to core with the action (a report, a photo on a case, a checklist
/// answer); core checks it, keeps its own copy under the photo's SHA-256 and uploads it.
/// Nothing else here keeps or hashes photos.
struct CameraFiles {
    private let dir: URL = FileManager.default.temporaryDirectory.appendingPathComponent("camera", isDirectory: true)

    /// Writes the picture to a new file and returns its path, or nil if it cannot be encoded.
    func keep(_ image: UIImage) throws -> String? {
        guard let jpeg = image.jpegData(compressionQuality: 0.8) else { return nil }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Captures core has long since copied (or that were never used) go.
        let dayAgo = Date().addingTimeInterval(-86_400)
        for old in (try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        where ((try? old.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? Date()) < dayAgo {
            try? FileManager.default.removeItem(at: old)
        }
        let target = dir.appendingPathComponent(UUID().uuidString + ".jpg")
        try jpeg.write(to: target, options: [.atomic, .completeFileProtectionUntilFirstUserAuthentication])
        return target.path
    }
}

/// The system camera (UIImagePickerController), for the report form, actions and checklist items.
struct CameraView: UIViewControllerRepresentable {
    let onImage: (UIImage?) -> Void

    func makeUIViewController(context: Context) -> UIImagePickerController {
        let picker = UIImagePickerController()
        picker.sourceType = UIImagePickerController.isSourceTypeAvailable(.camera) ? .camera : .photoLibrary
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: UIImagePickerController, context: Context) {}

    func makeCoordinator() -> Coordinator { Coordinator(onImage: onImage) }

    final class Coordinator: NSObject, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
        let onImage: (UIImage?) -> Void

        init(onImage: @escaping (UIImage?) -> Void) { self.onImage = onImage }

        func imagePickerController(_ picker: UIImagePickerController, didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]) {
            onImage(info[.originalImage] as? UIImage)
        }

        func imagePickerControllerDidCancel(_ picker: UIImagePickerController) { onImage(nil) }
    }
}
