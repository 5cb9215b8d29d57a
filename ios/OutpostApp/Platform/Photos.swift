import CryptoKit
import Foundation
import SwiftUI
import UIKit

/// Camera glue: JPEG bytes kept under their SHA-256, which is how cases and answers refer to a photo.
struct Photos {
    private let dir: URL = {
        let base = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        return base.appendingPathComponent("photos", isDirectory: true)
    }()

    /// Keeps a photo and returns its hash (lower-case hex), or nil if it cannot be encoded.
    func keep(_ image: UIImage) throws -> String? {
        guard let jpeg = image.jpegData(compressionQuality: 0.8) else { return nil }
        let hash = SHA256.hash(data: jpeg).map { String(format: "%02x", $0) }.joined()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let target = dir.appendingPathComponent(hash)
        if !FileManager.default.fileExists(atPath: target.path) {
            try jpeg.write(to: target, options: [.atomic, .completeFileProtectionUntilFirstUserAuthentication])
        }
        return hash
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
